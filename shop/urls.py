"""The site's root URLconf: the storefront pages, and each app's ``urls`` by dotted name."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from shop import health, views

shop_patterns = [
    path("", views.product_list, name="product_list"),
    path("category/<slug:slug>/", views.category_detail, name="category"),
    path("products/<slug:slug>/", views.product_detail, name="product_detail"),
    path("cart/", views.cart_detail, name="cart"),
    path("cart/add/", views.cart_add, name="cart_add"),
    path("cart/update/", views.cart_update, name="cart_update"),
    path("cart/remove/", views.cart_remove, name="cart_remove"),
    path("contact/", views.contact_page, name="contact"),
    path("contact/thanks/", views.contact_thanks, name="contact_thanks"),
]

urlpatterns = [
    path("", include((shop_patterns, "shop"))),
    path("", include("orders.urls")),
    # dj-stripe's webhook route, served by our view that refuses dj-stripe's DEBUG-only
    # signing-secret override header.
    path("stripe/", include("payments.urls")),
    # Terms, privacy, returns: django.contrib.flatpages, edited by staff in the admin.
    path("pages/", include("django.contrib.flatpages.urls")),
    path("admin/", admin.site.urls),
    # Operations: the load balancer's probe and the monitor's scrape (README "Running in
    # production"); neither needs a login, /metrics a bearer token.
    path("healthz", health.healthz, name="healthz"),
    path("", include("payments.metrics_urls")),
]

handler400 = "shop.views.bad_request"
handler404 = "shop.views.page_not_found"
handler500 = "shop.views.server_error"

if settings.SERVE_MEDIA:
    # Uploaded product images (see SERVE_MEDIA in settings): safe_join keeps paths inside.
    urlpatterns += [
        re_path(r"^media/(?P<path>.+)$", views.media),
    ]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
