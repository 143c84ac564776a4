"""The Stripe gateway: the only package that imports ``stripe``, and a leaf of the project.

It imports nothing of the shop. Callers use this package's names, e.g.
``stripe_gateway.confirm_payment_intent(...)``, and catch its three domain errors; Stripe's
vocabulary (statuses, error kinds, idempotency key formats) stays in here.

- ``calls``: one function per Stripe call.
- ``snapshots``: plain PaymentIntent / Refund snapshots and their status predicates.
- ``errors``: ``PaymentDeclined``, ``OutcomeUnknown`` (with ``TryLater``, ``KeyConflict``),
  ``RequestRejected``.
- ``keys``: every idempotency key, one function per request.
- ``webhooks``: the webhook signature check.
- ``client``: the SDK client under it (tests wrap its HTTP client to inject faults).
- ``budget``: the account's Stripe request budget, shared by every process and host; every
  call takes a token from it, by its caller's work class (``budget.work_class``).
"""

from stripe_gateway import budget, keys
from stripe_gateway.calls import (
    cancel_payment_intent,
    confirm_payment_intent,
    create_payment_intent,
    create_refund,
    list_payment_intents,
    list_refunds,
    payment_intent_pages,
    retrieve_payment_intent,
)
from stripe_gateway.errors import (
    GatewayError,
    KeyConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RequestRejected,
    TryLater,
)
from stripe_gateway.snapshots import (
    PaymentIntentSnapshot,
    RefundSnapshot,
    Shipping,
    refunded_total,
)
from stripe_gateway.webhooks import signature_is_valid

__all__ = [
    "GatewayError",
    "KeyConflict",
    "OutcomeUnknown",
    "PaymentDeclined",
    "PaymentIntentSnapshot",
    "RefundSnapshot",
    "RequestRejected",
    "Shipping",
    "TryLater",
    "budget",
    "cancel_payment_intent",
    "confirm_payment_intent",
    "create_payment_intent",
    "create_refund",
    "keys",
    "list_payment_intents",
    "list_refunds",
    "payment_intent_pages",
    "refunded_total",
    "retrieve_payment_intent",
    "signature_is_valid",
]
