"""django.contrib.admin with the shop's admin site (shop/admin_site.py) as its default site."""

from django.contrib.admin.apps import AdminConfig


class ShopAdminConfig(AdminConfig):
    default_site = "shop.admin_site.ShopAdminSite"
