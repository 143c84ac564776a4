"""The gateway is an app for its one table (the shared Stripe request budget) and, at start-up,
to put that budget under the SDK's global HTTP client, which dj-stripe's own calls use."""

from django.apps import AppConfig


class StripeGatewayConfig(AppConfig):
    name = "stripe_gateway"
    verbose_name = "Stripe gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from stripe_gateway.client import install_global_client

        install_global_client()
