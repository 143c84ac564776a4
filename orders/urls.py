"""The customer's checkout and order pages."""

from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/quote/", views.checkout_quote, name="checkout_quote"),
    path("orders/<str:token>/", views.order_detail, name="detail"),
    path("orders/<str:token>/status/", views.order_status, name="status"),
    path("orders/<str:token>/authenticated/", views.order_authenticated, name="authenticated"),
    path("orders/<str:token>/try-again/", views.order_try_again, name="try_again"),
]
