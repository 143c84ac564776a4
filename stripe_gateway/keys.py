"""Idempotency keys: every key the shop sends to Stripe is built here, one function a request.

A key names one request: the same key is only ever sent again with the same parameters.
Stripe keeps a key's saved answer for 24 hours (``IDEMPOTENCY_WINDOW``); after that a retry
with the same key could run the request again.
"""

from datetime import timedelta

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def create_key(order_key: str) -> str:
    """Create the order's one PaymentIntent."""
    return f"{order_key}:create"


def confirm_key(order_key: str) -> str:
    """Confirm the PaymentIntent the order's row names."""
    return f"{order_key}:confirm"


def cancel_key(order_key: str) -> str:
    """Cancel the order's PaymentIntent when the order is unwound."""
    return f"{order_key}:cancel"


def spare_cancel_key(payment_intent_id: str) -> str:
    """Cancel a spare PaymentIntent that a racing driver created and never confirmed."""
    return f"{payment_intent_id}:cancel"


def outbox_key(order_key: str, kind: str, discriminator: str) -> str:
    """Perform one outbox message (a refund, a cancellation) at Stripe."""
    return f"{order_key}:{kind}:{discriminator or '0'}"


def audit_refund_key(payment_intent_id: str) -> str:
    """Refund money the audit found for an order we do not have."""
    return f"audit-refund:{payment_intent_id}"


def audit_cancel_key(payment_intent_id: str) -> str:
    """Cancel a stray unconfirmed PaymentIntent the audit found."""
    return f"audit-cancel:{payment_intent_id}"
