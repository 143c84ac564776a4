"""The catalog app's configuration."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """What the shop sells: products, their stock and the customer's cart."""

    name = "catalog"
    verbose_name = "Catalog"

    def ready(self):
        from catalog import signals  # noqa: F401 - connects the receivers
