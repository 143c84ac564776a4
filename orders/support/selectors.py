"""Reads for support staff: which orders are stuck, and an order's whole story.

The writes support staff may make are in ``orders.support.actions``; the admin, the payments health
page and ``payments_report`` read through these.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from orders import policy
from orders.models import PENDING_STATUSES, Order, OrderEvent, OutboxMessage


def _failed_outbox(**filters) -> Exists:
    return Exists(
        OutboxMessage.objects.filter(
            order=OuterRef("pk"), state=OutboxMessage.State.FAILED, **filters
        )
    )


def pending_past_grace(now: datetime) -> Q:
    """Pending orders older than the grace period: the reconciler's business, worth a look."""
    return Q(status__in=PENDING_STATUSES, created_at__lte=now - policy.grace_period())


def stuck_past_deadline(now: datetime, *, after: timedelta | None = None) -> Q:
    """Pending orders that should have converged long ago (invariant I4 is broken for them)."""
    return Q(status__in=PENDING_STATUSES, created_at__lt=now - (after or policy.stuck_after()))


def refund_failed() -> Q:
    """Orders with a refund the outbox gave up on: a customer is owed money."""
    return Q(_failed_outbox(kind=OutboxMessage.Kind.REFUND))


def needs_attention(now: datetime, *, after: timedelta | None = None) -> Q:
    """Orders no automatic path will finish: stuck past the deadline, or an outbox gave up."""
    return stuck_past_deadline(now, after=after) | Q(_failed_outbox())


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    kind_label: str
    cause: str
    message: str
    actor: str = ""
    from_status: str = ""
    to_status: str = ""
    details: dict = field(default_factory=dict)


def order_timeline(order: Order) -> list[TimelineEntry]:
    """Everything that happened to an order, oldest first, from its events and its outbox rows.

    Events already record transitions, Stripe calls, webhooks, reconciler attempts, staff
    actions and finished outbox messages; the outbox rows add when each message was queued
    and where a still-pending one stands.
    """
    entries = [
        TimelineEntry(
            at=event.at,
            kind=event.kind,
            kind_label=event.get_kind_display(),
            cause=event.cause,
            message=event.message,
            actor=event.actor.get_username() if event.actor else "",
            from_status=event.from_status,
            to_status=event.to_status,
            details=event.details,
        )
        for event in order.events.select_related("actor")
    ]
    for message in order.outbox.all():
        text = f"{message.get_kind_display()} queued"
        if "amount" in message.payload:
            text += f" ({message.payload['amount']} {order.currency})"
        if message.state == OutboxMessage.State.PENDING:
            text += f"; pending after {message.attempts} attempt(s)"
            if message.last_error:
                text += f", last error: {message.last_error}"
        else:
            text += f"; {message.get_state_display().lower()}"
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind=OrderEvent.Kind.OUTBOX,
                kind_label=OrderEvent.Kind.OUTBOX.label,
                cause=f"outbox:{message.kind}"
                + (f" [{message.discriminator}]" if message.discriminator else ""),
                message=text,
                details={"outbox_id": message.pk, "state": message.state, **message.result},
            )
        )
    return sorted(entries, key=lambda entry: entry.at)
