"""The catalog app's configuration."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    """What the shop sells: products, their stock and the customer's cart."""

    name = "catalog"
    verbose_name = "Catalog"

    def ready(self):
        from catalog import signals  # noqa: F401 - connects the receivers
        from catalog.permissions import ensure_catalog_group

        post_migrate.connect(ensure_catalog_group, sender=self)
