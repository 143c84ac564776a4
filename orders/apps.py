"""The orders app's configuration: keeps the Support group in shape after every migrate."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        from orders.permissions import ensure_support_group

        post_migrate.connect(ensure_support_group, sender=self)
