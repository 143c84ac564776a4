"""The order's timeline: one ``OrderEvent`` per thing that happened, which support reads."""

import logging

from django.db import DatabaseError, transaction

from orders import clock
from orders.models import Order, OrderEvent

logger = logging.getLogger(__name__)


def build_event(
    order: Order,
    *,
    kind: str,
    cause: str,
    message: str = "",
    details: dict | None = None,
    actor=None,
    from_status: str = "",
    to_status: str = "",
) -> OrderEvent:
    """A timeline entry, not yet saved: for a caller that writes it in a later transaction."""
    return OrderEvent(
        order=order,
        at=clock.now(),
        kind=kind,
        cause=cause,
        message=message,
        details=details or {},
        actor=actor,
        from_status=from_status,
        to_status=to_status,
    )


def record_event(order: Order, **fields) -> OrderEvent:
    """Append an entry to the order's timeline (inside the caller's transaction, if any)."""
    event = build_event(order, **fields)
    event.save(force_insert=True)
    return event


def record_stripe_call(order_id: int, call: str, *, cause: str, details: dict) -> None:
    """Note a Stripe call in its own short transaction; a failure here is only logged."""
    try:
        with transaction.atomic():
            # The event needs only the order's id: no read of the row (one round trip less).
            record_event(
                Order(pk=order_id),
                kind=OrderEvent.Kind.STRIPE,
                cause=cause,
                message=call,
                details=details,
            )
    except DatabaseError:
        logger.warning("could not record stripe call", extra={"order_id": order_id, "call": call})
