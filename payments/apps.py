"""The payments app's configuration: registers checks, webhook receivers and schedules."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self):
        from payments import checks, webhooks  # noqa: F401  (registers checks and receivers)
        from payments.schedules import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self)
