"""System checks of the payment settings (``manage.py check`` and every start)."""

from django.conf import settings
from django.core.checks import Error, register

from stripe_gateway.keys import IDEMPOTENCY_WINDOW


@register()
def check_payment_policy(app_configs, **kwargs):
    """The give-up deadline must end well before Stripe forgets our idempotency keys."""
    give_up = settings.PAYMENTS["GIVE_UP_AFTER"]
    if give_up >= IDEMPOTENCY_WINDOW / 2:
        return [
            Error(
                "PAYMENTS['GIVE_UP_AFTER'] must be under 12 hours",
                hint="Stripe keeps idempotency keys for 24 hours; keep a wide margin.",
                id="payments.E001",
            )
        ]
    if settings.Q_CLUSTER["retry"] <= settings.Q_CLUSTER["timeout"]:
        return [Error("Q_CLUSTER retry must exceed timeout", id="payments.E002")]
    return []
