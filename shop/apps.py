"""The site app's configuration."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The site: settings, the root URLconf, the storefront pages and the demo set-up."""

    name = "shop"
    verbose_name = "Shop"

    def ready(self):
        from shop import checks  # noqa: F401  (registers the production checks)
