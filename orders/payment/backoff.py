"""Record a failed payment attempt on the order and when the next one is due.

When Stripe will only ever replay the failure it gave one of the order's idempotency keys,
the attempt also spends the key: the order moves to a new ``key_round``, and its next
create, confirm or cancel goes out under a new key.
"""

import logging

from django.db import DatabaseError, transaction

from orders import clock, policy, state
from orders.models import OrderEvent
from orders.timeline import record_event

logger = logging.getLogger(__name__)


def note_attempt_failed(
    order_id: int,
    error: str,
    *,
    cause: str,
    unsaved_note: OrderEvent | None = None,
    spent_key_round: int | None = None,
) -> None:
    """Record a failed attempt and back off before the next one.

    ``unsaved_note`` is a timeline entry whose own transaction failed (the confirm that
    preceded a failed step 3): the story keeps it. ``spent_key_round`` is the key round
    whose key Stripe answered with a saved server error (or refused as used with other
    parameters): the order moves past it, once however many drivers saw it.
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
            fields = ["attempts", "next_attempt_at", "last_error"]
            if spent_key_round is not None and spent_key_round == order.key_round:
                order.key_round += 1
                fields.append("key_round")
                record_event(
                    order,
                    kind=OrderEvent.Kind.STRIPE,
                    cause=cause,
                    message=(
                        "Stripe keeps this answer for the idempotency key and would replay it "
                        "on every retry: the next attempt uses new keys "
                        f"(round {order.key_round}). Safe: only the PaymentIntent recorded on "
                        "the order is ever confirmed."
                    ),
                    details={"key_round": order.key_round, "error": error[:500]},
                )
            order.save(update_fields=fields)
            record_event(
                order,
                kind=OrderEvent.Kind.RECONCILE,
                cause=cause,
                # The raw error goes in the details, which staff see folded away.
                message=f"Outcome unknown, will retry in {int(delay.total_seconds())}s.",
                details={"attempts": order.attempts, "error": error[:500]},
            )
    except DatabaseError:
        logger.warning("could not record failed attempt", extra={"order_id": order_id})
