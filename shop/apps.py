"""The site app's configuration."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ShopConfig(AppConfig):
    """The site: settings, the root URLconf, the storefront pages and the demo set-up."""

    name = "shop"
    verbose_name = "Shop"

    def ready(self):
        from shop import checks  # noqa: F401  (registers the production checks)
        from shop.contact import ensure_contact_schedule
        from shop.default_pages import ensure_default_pages

        # Also after a test flush, which empties every table (as the Support group does).
        post_migrate.connect(ensure_default_pages, sender=self)
        post_migrate.connect(ensure_contact_schedule, sender=self)
