"""The admin site: the shop's name on it, and dj-stripe's Stripe mirror kept out of the way.

dj-stripe registers ~45 models (its local copy of Stripe's objects). The owner and support
work from the shop's own models, so the index lists those only; the mirror stays reachable
at /admin/djstripe/ for whoever may read it, through one link on the index. Django's own
rule decides who may: superusers, and staff given dj-stripe's permissions (staff are given
none by default), so for everyone else the mirror's pages are forbidden, not just unlisted.
"""

from django.conf import settings
from django.contrib.admin import AdminSite

STRIPE_MIRROR_APP = "djstripe"


class ShopAdminSite(AdminSite):
    site_title = "Shop admin"
    index_title = "Run the shop"

    @property
    def site_header(self):
        return f"{settings.SHOP_NAME} admin"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is None:
            apps = [app for app in apps if app["app_label"] != STRIPE_MIRROR_APP]
        return apps

    def each_context(self, request):
        context = super().each_context(request)
        context["stripe_mirror_visible"] = request.user.is_active and request.user.has_module_perms(
            STRIPE_MIRROR_APP
        )
        return context
