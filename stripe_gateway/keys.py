"""Idempotency keys: every key the shop sends to Stripe is built here, one function a request.

A key names exactly one request: the same key is only ever sent again with the same
parameters. Stripe keeps a key's first answer for 24 hours (``IDEMPOTENCY_WINDOW``) and
replays it, server errors included, so a key that got a server error is spent: the next
attempt moves to a new ``key_round``. That is safe only for writes pinned to one object: the
order's one recorded PaymentIntent is the only one ever confirmed, a refund is looked up
by its outbox id before it is made again, a cancel is harmless twice.
"""

from datetime import datetime, timedelta

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def _in_round(key: str, key_round: int) -> str:
    # Round 0 keeps the key every order had before rounds existed.
    return f"{key}:r{key_round}" if key_round else key


def create_key(order_key: str, key_round: int = 0) -> str:
    """Create the order's PaymentIntent (never confirmed unless recorded on the order)."""
    return _in_round(f"{order_key}:create", key_round)


def confirm_key(order_key: str, key_round: int = 0) -> str:
    """Confirm the PaymentIntent the order's row names."""
    return _in_round(f"{order_key}:confirm", key_round)


def cancel_key(order_key: str, key_round: int = 0) -> str:
    """Cancel the order's PaymentIntent when the order is unwound."""
    return _in_round(f"{order_key}:cancel", key_round)


def spare_cancel_key(payment_intent_id: str) -> str:
    """Cancel a spare PaymentIntent that a racing driver created and never confirmed."""
    return f"{payment_intent_id}:cancel"


def outbox_key(order_key: str, kind: str, discriminator: str, key_round: int = 0) -> str:
    """Perform one outbox message (a refund, a cancellation) at Stripe."""
    return _in_round(f"{order_key}:{kind}:{discriminator or '0'}", key_round)


def _audit_run(started: datetime) -> str:
    # Each audit run sends its own keys: a server error saved under one run's key does not
    # stop the next run (an hour later), which checks Stripe first anyway.
    return started.strftime("%Y%m%dT%H%M%S")


def audit_refund_key(payment_intent_id: str, amount: int, run_started: datetime) -> str:
    """Refund ``amount`` the audit found for an order we do not have."""
    return f"audit-refund:{payment_intent_id}:{amount}:{_audit_run(run_started)}"


def audit_cancel_key(payment_intent_id: str, run_started: datetime) -> str:
    """Cancel a stray unconfirmed PaymentIntent the audit found."""
    return f"audit-cancel:{payment_intent_id}:{_audit_run(run_started)}"
