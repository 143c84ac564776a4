"""Settle refunds the outbox gave up on: retry them, or record that they were made elsewhere.

A failed refund means a customer is owed money; until staff settle it the payments health
page stays red. Retrying puts the message back in the outbox with the key discipline of
every other attempt: the same idempotency key, unless Stripe definitively refused the last
one (it saved a server error under it, or the key was used with other parameters), in which
case the outbox already moved it to a new ``key_round``. A refund is looked up at Stripe by
its outbox id before it is made, so a retry never refunds twice.
"""

import logging

from django.db import transaction

from orders import clock
from orders.exceptions import ActionRefused
from orders.models import Order, OrderEvent, OutboxMessage
from orders.outbox.store import queue_dispatch, queued_refund_total
from orders.state import lock_order
from orders.support.actions import audit, require_reason, require_token

logger = logging.getLogger(__name__)

RETRY = "retry_refund"
RESOLVE = "resolve_refund"
RETRY_CAUSE = f"staff:{RETRY}"  # the timeline's cause, as ``actions.audit`` writes it
RESOLVE_CAUSE = f"staff:{RESOLVE}"


def failed_refunds(order: Order):
    """The order's refunds that the outbox gave up on, oldest first."""
    return order.outbox.filter(
        kind=OutboxMessage.Kind.REFUND, state=OutboxMessage.State.FAILED
    ).order_by("pk")


def has_failed_refund(order: Order) -> bool:
    return failed_refunds(order).exists()


def _replayed(order: Order, cause: str, request_token: str) -> list[OutboxMessage] | None:
    """The messages a finished submission with this form token acted on, or None."""
    event = order.events.filter(
        kind=OrderEvent.Kind.STAFF, cause=cause, details__request_token=request_token
    ).first()
    if event is None:
        return None
    return list(order.outbox.filter(pk__in=event.details.get("outbox_ids", [])).order_by("pk"))


def retry_failed_refunds(
    *, order_id: int, actor, reason: str, request_token: str
) -> list[OutboxMessage]:
    """Put the order's failed refunds back in the outbox, once per submission; audited."""
    reason, request_token = require_reason(reason), require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        replay = _replayed(order, RETRY_CAUSE, request_token)
        if replay is not None:
            return replay
        messages = list(failed_refunds(order).select_for_update())
        if not messages:
            raise ActionRefused("This order has no failed refund to retry.")
        own = sum(
            int(m.payload.get("amount", 0))
            for m in messages
            if m.payload.get("payment_intent_id") == order.payment_intent_id
        )
        left = order.total_amount - order.refunded_amount
        left -= queued_refund_total(order, payment_intent_id=order.payment_intent_id)
        if own > left:
            raise ActionRefused(
                f"Retrying would refund {own / 100:.2f} {order.currency.upper()} but only "
                f"{max(left, 0) / 100:.2f} is left to refund (a refund was made since, perhaps in "
                "the Stripe dashboard). Mark it resolved outside the shop instead."
            )
        now = clock.now()
        for message in messages:
            message.state = OutboxMessage.State.PENDING
            message.attempts = 0
            message.available_at = now
            message.lease_until = None
            message.done_at = None
            message.save(
                update_fields=["state", "attempts", "available_at", "lease_until", "done_at"]
            )
        audit(
            order,
            action=RETRY,
            actor=actor,
            reason=reason,
            details={
                "request_token": request_token,
                "outbox_ids": [m.pk for m in messages],
                # The same key unless Stripe spent the last one (then the outbox moved on).
                "key_rounds": [m.key_round for m in messages],
                "last_error": "; ".join(m.last_error for m in messages if m.last_error),
            },
        )
        for message in messages:
            transaction.on_commit(lambda pk=message.pk: queue_dispatch(pk))
    logger.info("failed refunds retried", extra={"order_id": order_id, "count": len(messages)})
    return messages


def resolve_failed_refunds(
    *, order_id: int, actor, reason: str, request_token: str
) -> list[OutboxMessage]:
    """Record that the order's failed refunds were settled outside the shop; audited.

    Nothing is sent to Stripe. A refund made in the Stripe dashboard is booked on the order
    by its ``charge.refunded`` webhook or the audit, as any other.
    """
    reason, request_token = require_reason(reason), require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        replay = _replayed(order, RESOLVE_CAUSE, request_token)
        if replay is not None:
            return replay
        messages = list(failed_refunds(order).select_for_update())
        if not messages:
            raise ActionRefused("This order has no failed refund to resolve.")
        now = clock.now()
        username = getattr(actor, "username", "")
        for message in messages:
            message.state = OutboxMessage.State.RESOLVED
            message.done_at = now
            message.result = {**message.result, "resolved_by": username, "reason": reason}
            message.save(update_fields=["state", "done_at", "result"])
        audit(
            order,
            action=RESOLVE,
            actor=actor,
            reason=reason,
            details={
                "request_token": request_token,
                "outbox_ids": [m.pk for m in messages],
                "amount": sum(int(m.payload.get("amount", 0)) for m in messages),
            },
        )
    return messages
