"""Reads for the payments health page and ``payments_report``: one set of figures for both."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Count, Min, Q, Sum

from orders import clock, policy
from orders.models import PENDING_STATUSES, Order, OrderStatus, OutboxMessage, UnmatchedPaymentEvent
from orders.support import selectors as order_selectors
from payments.models import ReconcilerRun
from ratelimits.models import LimitHit


@dataclass(frozen=True)
class AttentionItem:
    order_id: int
    reference: str
    status: str
    created_at: datetime
    age: timedelta
    why: list[str]

    @classmethod
    def of(cls, order, *, now: datetime, why: list[str]) -> "AttentionItem":
        return cls(
            order_id=order.pk,
            reference=order.reference,
            status=order.status,
            created_at=order.created_at,
            age=now - order.created_at,
            why=why,
        )


@dataclass(frozen=True)
class LastRun:
    started_at: datetime
    finished_at: datetime | None
    examined: int
    outcomes: dict
    errors: list
    age: timedelta

    @property
    def state(self) -> str:
        if self.finished_at is None:
            return "running"  # or died half-way; the next run starts afresh either way
        return "errors" if self.errors else "ok"


@dataclass(frozen=True)
class PaymentsHealth:
    generated_at: datetime
    counts: dict[str, int]
    oldest_pending: AttentionItem | None
    pending_past_grace: int
    stuck: int
    stuck_after: timedelta
    refunds_failed: int
    attention_count: int
    attention: list[AttentionItem]
    last_run: LastRun | None
    outbox_pending: int
    outbox_oldest_pending_age: timedelta | None
    outbox_failed: int
    unmatched_unresolved: int
    grace_period: timedelta
    # Abuse controls: requests refused by each rate limit ("checkout/ip") in the last 24 h,
    # and admin logins locked out now (django-axes).
    limited_last_day: dict[str, int]
    logins_locked: int

    @property
    def pending(self) -> int:
        return sum(self.counts[status] for status in PENDING_STATUSES)

    @property
    def alerting(self) -> bool:
        """Whether a monitor should page someone: orders stuck past the deadline, money owed,
        or money at Stripe that no order claims (until support attaches or dismisses it)."""
        return bool(self.stuck or self.refunds_failed or self.unmatched_unresolved)

    def as_dict(self) -> dict:
        def seconds(value: timedelta | None) -> int | None:
            return None if value is None else int(value.total_seconds())

        def item(entry: AttentionItem) -> dict:
            return {
                "reference": entry.reference,
                "status": entry.status,
                "created_at": entry.created_at.isoformat(),
                "age_seconds": seconds(entry.age),
                "why": entry.why,
            }

        run = self.last_run
        return {
            "generated_at": self.generated_at.isoformat(),
            "alerting": self.alerting,
            "counts": self.counts,
            "pending": self.pending,
            "oldest_pending": item(self.oldest_pending) if self.oldest_pending else None,
            "grace_period_seconds": seconds(self.grace_period),
            "pending_past_grace": self.pending_past_grace,
            "stuck_after_seconds": seconds(self.stuck_after),
            "stuck": self.stuck,
            "refunds_failed": self.refunds_failed,
            "attention_count": self.attention_count,
            "attention": [item(entry) for entry in self.attention],
            "last_reconciler_run": None
            if run is None
            else {
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "age_seconds": seconds(run.age),
                "state": run.state,
                "examined": run.examined,
                "outcomes": run.outcomes,
                "errors": run.errors,
            },
            "outbox": {
                "pending": self.outbox_pending,
                "oldest_pending_age_seconds": seconds(self.outbox_oldest_pending_age),
                "failed": self.outbox_failed,
            },
            "unmatched_stripe_events": self.unmatched_unresolved,
            "abuse": {
                "rate_limited_last_24h": self.limited_last_day,
                "admin_logins_locked": self.logins_locked,
            },
        }


def _why(
    order: Order, failed_kinds: list[str], *, now: datetime, stuck_after: timedelta
) -> list[str]:
    reasons = []
    if order.is_pending and order.created_at < now - stuck_after:
        reasons.append("pending past the deadline")
    labels = dict(OutboxMessage.Kind.choices)
    reasons += [f"{labels.get(kind, kind)} failed" for kind in failed_kinds]
    return reasons


def payments_health(
    *, stuck_after: timedelta | None = None, attention_limit: int = 20
) -> PaymentsHealth:
    """The payments' vital signs: states, stuck orders, the reconciler, the outbox backlog."""
    now = clock.now()
    stuck_after = stuck_after or policy.stuck_after()
    counts = dict.fromkeys(OrderStatus.values, 0)
    counts.update(
        Order.objects.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    figures = Order.objects.aggregate(
        past_grace=Count("pk", filter=order_selectors.pending_past_grace(now)),
        stuck=Count("pk", filter=order_selectors.stuck_past_deadline(now, after=stuck_after)),
    )
    oldest = (
        Order.objects.filter(status__in=PENDING_STATUSES)
        .order_by("created_at", "pk")
        .only("pk", "reference", "status", "created_at")
        .first()
    )
    attention_qs = Order.objects.filter(
        order_selectors.needs_attention(now, after=stuck_after)
    ).order_by("created_at", "pk")
    attention_orders = list(attention_qs[:attention_limit])
    failed_kinds: dict[int, list[str]] = {}
    for order_id, kind in OutboxMessage.objects.filter(
        order__in=[o.pk for o in attention_orders], state=OutboxMessage.State.FAILED
    ).values_list("order_id", "kind"):
        failed_kinds.setdefault(order_id, []).append(kind)
    outbox = OutboxMessage.objects.aggregate(
        pending=Count("pk", filter=Q(state=OutboxMessage.State.PENDING)),
        oldest=Min("created_at", filter=Q(state=OutboxMessage.State.PENDING)),
        failed=Count("pk", filter=Q(state=OutboxMessage.State.FAILED)),
        refunds_failed=Count(
            "order",
            distinct=True,
            filter=Q(state=OutboxMessage.State.FAILED, kind=OutboxMessage.Kind.REFUND),
        ),
    )
    run = ReconcilerRun.objects.order_by("-started_at", "-pk").first()
    return PaymentsHealth(
        generated_at=now,
        grace_period=policy.grace_period(),
        counts=counts,
        oldest_pending=None if oldest is None else AttentionItem.of(oldest, now=now, why=[]),
        pending_past_grace=figures["past_grace"],
        stuck=figures["stuck"],
        stuck_after=stuck_after,
        refunds_failed=outbox["refunds_failed"],
        attention_count=attention_qs.count(),
        attention=[
            AttentionItem.of(
                order,
                now=now,
                why=_why(order, failed_kinds.get(order.pk, []), now=now, stuck_after=stuck_after),
            )
            for order in attention_orders
        ],
        last_run=None
        if run is None
        else LastRun(
            started_at=run.started_at,
            finished_at=run.finished_at,
            examined=run.examined,
            outcomes=run.outcomes,
            errors=run.errors,
            age=now - run.started_at,
        ),
        outbox_pending=outbox["pending"],
        outbox_oldest_pending_age=None if outbox["oldest"] is None else now - outbox["oldest"],
        outbox_failed=outbox["failed"],
        unmatched_unresolved=UnmatchedPaymentEvent.objects.filter(resolved=False).count(),
        limited_last_day=_limited_since(now - timedelta(hours=24)),
        logins_locked=AccessAttempt.objects.filter(
            failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
            attempt_time__gte=now - settings.AXES_COOLOFF_TIME,
        ).count(),
    )


def _limited_since(since: datetime) -> dict[str, int]:
    """Requests refused per rate limit since ``since`` (whole hours), e.g. {"checkout/ip": 80}."""
    rows = (
        LimitHit.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
        .order_by("scope", "key_kind")
        .values_list("scope", "key_kind")
        .annotate(n=Sum("count"))
    )
    return {f"{scope}/{kind}": n for scope, kind, n in rows}


def format_duration(value: timedelta | None) -> str:
    """Say a duration the way people read it on a status page: "2h 5m", "40s", "—"."""
    if value is None:
        return "—"
    seconds = max(int(value.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [
        f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n
    ]
    return " ".join(parts[:2]) or "0s"
