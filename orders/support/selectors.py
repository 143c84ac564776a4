"""Reads for support staff: which orders are stuck, and an order's whole story.

The writes support staff may make are in ``orders.support.actions``; the admin, the payments health
page and ``payments_report`` read through these.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from orders import clock, policy
from orders.models import PENDING_STATUSES, Order, OrderEvent, OutboxMessage
from orders.support.explain import Explained, explain_text


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
    # The technical text behind the entry (an error from Stripe), shown folded away.
    technical: str = ""


# Details keys that hold raw error text: shown to staff only as folded technical detail.
TECHNICAL_KEYS = ("error", "last_error")


def _split_technical(details: dict) -> tuple[dict, str]:
    shown = {k: v for k, v in details.items() if k not in TECHNICAL_KEYS}
    technical = "; ".join(str(details[k]) for k in TECHNICAL_KEYS if details.get(k))
    return shown, technical


def order_timeline(order: Order) -> list[TimelineEntry]:
    """Everything that happened to an order, oldest first, from its events and its outbox rows.

    Events already record transitions, Stripe calls, webhooks, reconciler attempts, staff
    actions and finished outbox messages; the outbox rows add when each message was queued
    and where a still-pending one stands.
    """
    entries = []
    for event in order.events.select_related("actor"):
        shown, technical = _split_technical(event.details)
        entries.append(
            TimelineEntry(
                at=event.at,
                kind=event.kind,
                kind_label=event.get_kind_display(),
                cause=event.cause,
                message=event.message,
                actor=event.actor.get_username() if event.actor else "",
                from_status=event.from_status,
                to_status=event.to_status,
                details=shown,
                technical=technical,
            )
        )
    for message in order.outbox.all():
        text = f"{message.get_kind_display()} queued"
        technical = ""
        if "amount" in message.payload:
            text += f" ({message.payload['amount']} {order.currency})"
        if message.state == OutboxMessage.State.PENDING:
            text += f"; pending after {message.attempts} attempt(s)"
            if message.last_error:
                text += f". {explain_text(message.last_error).plain}"
                technical = message.last_error
        else:
            text += f"; {message.get_state_display().lower()}"
            if message.state == OutboxMessage.State.FAILED and message.last_error:
                text += f". {explain_text(message.last_error, retrying=False).plain}"
                technical = message.last_error
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind=OrderEvent.Kind.OUTBOX,
                kind_label=OrderEvent.Kind.OUTBOX.label,
                cause=f"outbox:{message.kind}"
                + (f" [{message.discriminator}]" if message.discriminator else ""),
                message=text,
                details={"outbox_id": message.pk, "state": message.state, **message.result},
                technical=technical,
            )
        )
    return sorted(entries, key=lambda entry: entry.at)


# --- Reconcile now, in the background (orders.support.reconcile writes these events)

RECONCILE_REQUEST_CAUSE = "staff:reconcile"
RECONCILE_RESULT_CAUSE = "staff:reconcile_result"


def reconcile_report_within() -> timedelta:
    """How long a requested reconcile may take before its page says it did not report back."""
    return policy.driver_lease() + timedelta(minutes=2)


@dataclass(frozen=True)
class ReconcileStatus:
    """Where the last "reconcile now" of an order stands, as its page shows it."""

    request: OrderEvent
    result: OrderEvent | None
    overdue: bool

    @property
    def running(self) -> bool:
        return self.result is None and not self.overdue

    @property
    def requested_by(self) -> str:
        return self.request.actor.get_username() if self.request.actor else "system"

    @property
    def explained(self) -> Explained:
        """What the result said went wrong, if the order stayed pending."""
        if self.result is None:
            return Explained("")
        details = self.result.details
        return explain_text(details.get("error") or details.get("last_error") or "")


def reconcile_result(order: Order, request_id: int) -> OrderEvent | None:
    """The recorded outcome of one background reconcile request, if it has finished."""
    return (
        order.events.filter(cause=RECONCILE_RESULT_CAUSE, details__request_id=request_id)
        .order_by("pk")
        .first()
    )


def reconcile_status(order: Order) -> ReconcileStatus | None:
    """The last background "reconcile now" of the order and its outcome; None if never asked."""
    request = (
        order.events.filter(
            kind=OrderEvent.Kind.STAFF, cause=RECONCILE_REQUEST_CAUSE, details__queued=True
        )
        .select_related("actor")
        .order_by("-at", "-pk")
        .first()
    )
    if request is None:
        return None
    result = reconcile_result(order, request.pk)
    overdue = result is None and clock.now() - request.at > reconcile_report_within()
    return ReconcileStatus(request=request, result=result, overdue=overdue)
