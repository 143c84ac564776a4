"""The gateway is an app only for its one table: the shared Stripe request budget."""

from django.apps import AppConfig


class StripeGatewayConfig(AppConfig):
    name = "stripe_gateway"
    verbose_name = "Stripe gateway"
    default_auto_field = "django.db.models.BigAutoField"
