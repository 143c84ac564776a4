"""Dispatch outbox messages: claim a due one, perform it, book the result, back off on failure.

A message is claimed (lease + attempt count) in one short transaction, its effect is
performed outside any transaction, and its completion is booked in another.
"""

import logging
import smtplib

from django.db import DatabaseError, transaction

from orders import clock, lease, logcontext, policy
from orders.models import OrderEvent, OutboxMessage
from orders.outbox import store
from orders.outbox.effects import PERFORMERS, PermanentFailure
from orders.timeline import record_event
from stripe_gateway import GatewayError, OutcomeUnknown

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def _claim(message_id: int) -> OutboxMessage | None:
    now = clock.now()
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .select_related("order")
            .filter(pk=message_id, state=OutboxMessage.State.PENDING, available_at__lte=now)
            .filter(lease.free(now))
            .first()
        )
        if message is None:
            return None
        message.attempts += 1
        message.lease_until = now + policy.outbox_lease()
        message.save(update_fields=["attempts", "lease_until"])
        return message


def _finish(
    message: OutboxMessage,
    *,
    state: str,
    result: dict | None = None,
    error: str = "",
    key_spent: bool = False,
) -> None:
    now = clock.now()
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update().select_related("order").get(pk=message.pk)
        )
        message.lease_until = None
        if key_spent:
            # Stripe would replay this answer for the key: the next attempt (an automatic one,
            # or staff's retry of a message that gave up) uses a new one (a refund is first
            # looked up by its outbox id, so none is made twice).
            message.key_round += 1
        if state == OutboxMessage.State.PENDING:
            message.available_at = now + policy.retry_delay(message.attempts)
            message.last_error = error[:2000]
        else:
            message.state = state
            message.done_at = now
            message.result = result or {}
            message.last_error = error[:2000]
        message.save()
        if state != OutboxMessage.State.PENDING or message.attempts == 1:
            record_event(
                message.order,
                kind=OrderEvent.Kind.OUTBOX,
                cause=f"outbox:{message.kind}",
                message=(
                    f"{message.get_kind_display()}: done"
                    if state == OutboxMessage.State.SENT
                    else f"{message.get_kind_display()}: {state}"
                ),
                # The raw error goes in the details, which staff see folded away.
                details={
                    "outbox_id": message.pk,
                    "attempts": message.attempts,
                    **({"error": error[:500]} if error else {}),
                    **(result or {}),
                },
            )


def dispatch_outbox_message(message_id: int) -> str | None:
    """Perform one outbox message if it is due and nobody else holds it; return its new state."""
    with logcontext.scope(outbox_id=message_id):
        return _dispatch(message_id)


def _dispatch(message_id: int) -> str | None:
    message = _claim(message_id)
    if message is None:
        return None
    logcontext.note_order(message.order)
    perform = PERFORMERS[message.kind]
    try:
        result = perform(message)
    except PermanentFailure as exc:
        _finish(message, state=OutboxMessage.State.FAILED, error=str(exc))
        return OutboxMessage.State.FAILED
    except (GatewayError, smtplib.SMTPException, OSError, DatabaseError) as exc:
        logger.warning(
            "outbox message failed",
            extra={"outbox_id": message.pk, "kind": message.kind, "error": str(exc)},
        )
        final = message.attempts >= MAX_ATTEMPTS
        state = OutboxMessage.State.FAILED if final else OutboxMessage.State.PENDING
        _finish(
            message,
            state=state,
            error=f"{type(exc).__name__}: {exc}",
            key_spent=isinstance(exc, OutcomeUnknown) and exc.key_spent,
        )
        return state
    _finish(message, state=OutboxMessage.State.SENT, result=result)
    return OutboxMessage.State.SENT


def dispatch_due_messages(limit: int = 500) -> dict[str, int]:
    """Dispatch every due message (the safety net behind the on-commit dispatch)."""
    counts: dict[str, int] = {}
    for message_id in store.due_message_ids(limit):
        state = dispatch_outbox_message(message_id)
        if state:
            counts[state] = counts.get(state, 0) + 1
    return counts
