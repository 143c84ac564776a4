"""Record a failed payment attempt on the order and when the next one is due."""

import logging

from django.db import DatabaseError, transaction

from orders import clock, policy, state
from orders.models import OrderEvent
from orders.timeline import record_event

logger = logging.getLogger(__name__)


def note_attempt_failed(
    order_id: int, error: str, *, cause: str, unsaved_note: OrderEvent | None = None
) -> None:
    """Record a failed attempt and back off before the next one.

    ``unsaved_note`` is a timeline entry whose own transaction failed (the confirm that
    preceded a failed step 3): the story keeps it.
    """
    try:
        with transaction.atomic():
            order = state.lock_order(order_id)
            if unsaved_note is not None:
                unsaved_note.pk = None  # its first insert, if any, was rolled back
                unsaved_note.save(force_insert=True)
            if not order.is_pending:
                return
            order.attempts += 1
            delay = policy.retry_delay(order.attempts)
            order.next_attempt_at = clock.now() + delay
            order.last_error = error[:2000]
            order.save(update_fields=["attempts", "next_attempt_at", "last_error"])
            record_event(
                order,
                kind=OrderEvent.Kind.RECONCILE,
                cause=cause,
                message=f"Outcome unknown, will retry in {int(delay.total_seconds())}s: {error}",
                details={"attempts": order.attempts},
            )
    except DatabaseError:
        logger.warning("could not record failed attempt", extra={"order_id": order_id})
