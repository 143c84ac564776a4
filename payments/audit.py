"""The orphan sweep: hold Stripe's PaymentIntents against our orders and check I1-I5.

It reads from Stripe's side (list recent PaymentIntents carrying our metadata tag), so money
taken without a matching paid order is found even when our row lost track of it. With
``fix=True`` it repairs what is safe to repair: attach a PaymentIntent to its pending order,
refund money no order can keep, cancel stray unconfirmed PaymentIntents.

It lists only its window (``created[gte]``), 100 a request, each with its latest charge
expanded: the charge's ``amount_refunded`` says what was refunded, so no refunds call is
made per payment. It checks page by page; a time-boxed run (the scheduled one) keeps its
place in an ``AuditCursor`` and stops in time, and a 429 or the time box ends a run with a
partial report that says so, which the next run continues.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Q

import stripe_gateway
from orders import clock, policy
from orders.models import Order, OrderStatus, OutboxMessage
from orders.outbox.dispatch import dispatch_due_messages
from orders.outbox.store import queued_refunds
from orders.payment.apply import apply_payment_intent, record_refund
from orders.support.selectors import stuck_past_deadline
from payments.models import AuditCursor
from payments.sweeps import STOPPED_RATE_LIMITED, STOPPED_TIME_BOX, TimeBox, stripe_work
from stripe_gateway import GatewayError, PaymentIntentSnapshot, TryLater

logger = logging.getLogger(__name__)

BROKEN = "broken"
WARNING = "warning"
STRIPE_FAILED = "Stripe could not be read"


@dataclass
class Finding:
    invariant: str
    severity: str
    message: str
    order: str = ""
    payment_intent: str = ""
    fixed: bool = False

    def line(self) -> str:
        status = "FIXED" if self.fixed else self.severity.upper()
        where = " ".join(x for x in (self.order, self.payment_intent) if x)
        return f"[{status}] {self.invariant} {where}: {self.message}"


@dataclass
class AuditReport:
    started_at: datetime
    findings: list[Finding] = field(default_factory=list)
    payment_intents_seen: int = 0
    orders_checked: int = 0
    stopped: str = ""  # why the run ended before its window's end (empty: it got there)
    since: datetime | None = None  # the window's start (created[gte])
    checked_down_to: int | None = None  # the walk checked PaymentIntents created since here
    resumed_from: int | None = None  # where this run took up the walk (None: a new walk)
    resumed_after: str = ""  # the PaymentIntent it took up the walk after
    list_requests: int = 0
    refund_requests: int = 0

    @property
    def partial(self) -> bool:
        return bool(self.stopped)

    @property
    def stripe_failed(self) -> bool:
        """Whether Stripe (a 429, an error), not a limit of ours, cut the run short."""
        return self.stopped == STOPPED_RATE_LIMITED or self.stopped.startswith(STRIPE_FAILED)

    def summary_line(self) -> str:
        line = (
            f"Audited {self.payment_intents_seen} PaymentIntents and {self.orders_checked} paid "
            f"orders: {len(self.broken)} invariant violations."
        )
        if self.partial:
            down_to = (
                datetime.fromtimestamp(self.checked_down_to, UTC).isoformat()
                if self.checked_down_to is not None
                else "nothing yet"
            )
            line += (
                f" PARTIAL: stopped early ({self.stopped}); checked down to {down_to}; "
                "the next run continues from there."
            )
        return line

    @property
    def broken(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == BROKEN and not f.fixed]


def _refunded(report: "AuditReport", pi: PaymentIntentSnapshot) -> int:
    """What Stripe refunded of ``pi``: from its listed charge, else one refunds call."""
    if pi.refunded is not None:
        return pi.refunded
    report.refund_requests += 1
    return stripe_gateway.refunded_total(stripe_gateway.list_refunds(pi.id))


def _refund_in_flight(order: Order | None, pi_id: str) -> bool:
    if order is None:
        return False
    return queued_refunds(order, payment_intent_id=pi_id).exists()


def _refund_orphan(report: AuditReport, pi: PaymentIntentSnapshot, left: int) -> None:
    """Refund money that names an order we do not have (no outbox row can hold it)."""
    if any(r.metadata.get("audit") == pi.id for r in stripe_gateway.list_refunds(pi.id)):
        return
    stripe_gateway.create_refund(
        payment_intent_id=pi.id,
        amount=left,
        idempotency_key=stripe_gateway.keys.audit_refund_key(pi.id, left, report.started_at),
        metadata={"audit": pi.id, "shop": settings.STRIPE_METADATA_TAG},
    )


def _may_still_be_recorded(order: Order | None) -> bool:
    """Whether an unconfirmed PaymentIntent of this order may still become its payment.

    A pending order that records no PaymentIntent yet lost the reply to its create: the
    driver's next create with the same key gets that very PaymentIntent back from Stripe
    (which saved the answer) and records it. Cancelling it here would cancel the order's own
    payment, and the good card with it. Once the order records another one, or ends, it is
    a stray.
    """
    return order is not None and order.is_pending and order.payment_intent_id is None


def _check_refunds_booked(
    report: AuditReport, order: Order, pi: PaymentIntentSnapshot, refunded: int, *, fix: bool
) -> None:
    """Hold what Stripe refunded of the order's payment against what the order books.

    A refund made in the Stripe dashboard whose ``charge.refunded`` webhook never arrived
    (or was rolled back) shows here; with ``fix`` it is booked as Stripe's running total.
    """
    at_stripe = min(refunded, order.total_amount)
    if at_stripe == order.refunded_amount:
        return
    finding = Finding(
        "refunds",
        BROKEN,
        f"Stripe refunded {refunded} {pi.currency}, the order books {order.refunded_amount}",
        order.reference,
        pi.id,
    )
    if fix and at_stripe > order.refunded_amount:
        record_refund(
            order.pk,
            payment_intent_id=pi.id,
            refunded_total=refunded,
            refund_id="",
            cause="audit:fix",
        )
        finding.fixed = True
    report.findings.append(finding)


def _check_money_at_stripe(report, pis_by_order, orders, *, fix: bool, kept_before) -> None:
    """Check a page's PaymentIntents, by order. ``kept_before``: the ids of unrefunded
    succeeded PaymentIntents per order on the run's earlier pages (I1 across pages)."""
    grace_cutoff = clock.now() - policy.grace_period()
    for order_id, pis in pis_by_order.items():
        order = orders.get(order_id)
        ref = order.reference if order else f"order#{order_id}"
        kept = []
        for pi in pis:
            if pi.succeeded:
                refunded = _refunded(report, pi)
                if order is not None and pi.id == order.payment_intent_id:
                    _check_refunds_booked(report, order, pi, refunded, fix=fix)
                left = pi.amount - refunded
                if left > 0:
                    kept.append((pi, left))
            elif (
                pi.cancellable
                and (order is None or pi.id != order.payment_intent_id)
                and not _may_still_be_recorded(order)
                and pi.created
                and pi.created < grace_cutoff.timestamp()
            ):
                finding = Finding(
                    "stray",
                    WARNING,
                    f"unconfirmed PaymentIntent not on the order ({pi.status})",
                    ref,
                    pi.id,
                )
                if fix:
                    try:
                        stripe_gateway.cancel_payment_intent(
                            payment_intent_id=pi.id,
                            idempotency_key=stripe_gateway.keys.audit_cancel_key(
                                pi.id, report.started_at
                            ),
                        )
                        finding.fixed = True
                    except GatewayError as exc:
                        finding.message += f"; cancel failed: {exc}"
                report.findings.append(finding)
        earlier = kept_before.setdefault(order_id, set())
        before = len(earlier)
        earlier.update(pi.id for pi, _ in kept)
        if len(earlier) > 1 and before <= 1:  # once per order and run, on any page
            report.findings.append(
                Finding(
                    "I1",
                    BROKEN,
                    f"{len(earlier)} unrefunded succeeded PaymentIntents for one order",
                    ref,
                )
            )
        for pi, left in kept:
            if order is None:
                finding = Finding(
                    "I2",
                    BROKEN,
                    f"{left} {pi.currency} taken for an order we do not have",
                    ref,
                    pi.id,
                )
                if fix:
                    try:
                        _refund_orphan(report, pi, left)
                        finding.fixed = True
                    except GatewayError as exc:
                        finding.message += f"; refund failed: {exc}"
                report.findings.append(finding)
                continue
            is_ours = pi.id == order.payment_intent_id or order.payment_intent_id is None
            if is_ours and order.status == OrderStatus.PAID:
                if pi.amount != order.total_amount or pi.currency != order.currency:
                    report.findings.append(
                        Finding(
                            "I3", BROKEN, "paid order and its payment differ in amount", ref, pi.id
                        )
                    )
                continue
            if _refund_in_flight(order, pi.id):
                report.findings.append(
                    Finding("I2", WARNING, "refund queued, not yet made", ref, pi.id)
                )
                continue
            finding = Finding(
                "I2",
                BROKEN,
                f"{left} {pi.currency} kept at Stripe but the order is {order.status}",
                ref,
                pi.id,
            )
            if fix:
                apply_payment_intent(order.pk, pi, cause="audit:fix")
                finding.fixed = True
            report.findings.append(finding)


def _check_paid_orders(report, seen: dict[str, PaymentIntentSnapshot], since, before=None) -> None:
    """Paid orders created in ``[since, before)``: each has its succeeded PaymentIntent.

    The walk lists newest first and a PaymentIntent is created after its order, so an
    order's PaymentIntent was normally listed by the time its slice is checked; one that was
    not (made later, or on a page before a resumed run) is read on its own.
    """
    paid = Order.objects.filter(status=OrderStatus.PAID, created_at__gte=since)
    if before is not None:
        paid = paid.filter(created_at__lt=before)
    for order in paid.iterator(chunk_size=500):
        report.orders_checked += 1
        pi = seen.get(order.payment_intent_id or "")
        if pi is None and order.payment_intent_id:
            try:
                pi = stripe_gateway.retrieve_payment_intent(order.payment_intent_id)
            except GatewayError as exc:
                report.findings.append(
                    Finding("I3", WARNING, f"could not read its payment: {exc}", order.reference)
                )
                continue
        if pi is None or not pi.succeeded:
            report.findings.append(
                Finding(
                    "I3",
                    BROKEN,
                    "paid order without a succeeded payment",
                    order.reference,
                    order.payment_intent_id or "",
                )
            )
        elif pi.amount != order.total_amount or pi.currency != order.currency:
            report.findings.append(
                Finding("I3", BROKEN, "paid amount differs from the order", order.reference, pi.id)
            )


def _check_database(report, since) -> None:
    emails = (
        Order.objects.filter(created_at__gte=since)
        .annotate(
            confirmations=Count(
                "outbox",
                # Resends requested by support carry a discriminator and are not counted.
                filter=Q(
                    outbox__kind=OutboxMessage.Kind.CONFIRMATION_EMAIL, outbox__discriminator=""
                ),
            )
        )
        .filter(
            (Q(status__in=[OrderStatus.PAID, OrderStatus.REFUNDED]) & ~Q(confirmations=1))
            | (~Q(status__in=[OrderStatus.PAID, OrderStatus.REFUNDED]) & Q(confirmations__gt=0))
        )
    )
    for order in emails:
        report.findings.append(
            Finding(
                "I5",
                BROKEN,
                f"{order.confirmations} confirmation emails for a {order.status} order",
                order.reference,
            )
        )
    for order in Order.objects.filter(stuck_past_deadline(clock.now())):
        report.findings.append(
            Finding(
                "I4",
                BROKEN,
                "pending past its give-up deadline",
                order.reference,
                order.payment_intent_id or "",
            )
        )
    failed = OutboxMessage.objects.filter(
        state=OutboxMessage.State.FAILED, kind=OutboxMessage.Kind.REFUND, created_at__gte=since
    )
    for message in failed.select_related("order"):
        report.findings.append(
            Finding(
                "I2",
                BROKEN,
                f"refund gave up: {message.last_error}",
                message.order.reference,
                message.payload.get("payment_intent_id", ""),
            )
        )


def audit_payments(
    *,
    fix: bool = False,
    max_items: int = 10_000,
    progress: Callable[[str], None] | None = None,
    time_box: TimeBox | None = None,
) -> AuditReport:
    """Audit the recent window; with ``fix``, repair, let the outbox run, and audit again.

    With ``time_box`` the run is resumable: it continues the walk an earlier time-boxed run
    left in its ``AuditCursor``, stops when its time is up (or Stripe rate-limits it) with a
    partial report, and leaves the cursor for the next run. Its repairs go through the
    outbox at once; the next walk, not this run, audits them again.
    """
    with stripe_work("audit"):
        if time_box is not None:
            report = _audit_once(fix=fix, max_items=max_items, progress=progress, box=time_box)
            if fix and any(f.fixed for f in report.findings):
                dispatch_due_messages()
            return report
        report = _audit_once(fix=fix, max_items=max_items, progress=progress)
        if fix and any(f.fixed for f in report.findings) and not report.partial:
            dispatch_due_messages()
            after = _audit_once(fix=False, max_items=max_items, progress=progress)
            fixed = [f for f in report.findings if f.fixed]
            after.findings = fixed + after.findings
            return after
        return report


def _start_walk(report: AuditReport, box: TimeBox | None) -> AuditCursor | None:
    """Where this run starts: the time-boxed walk left off, or the present (a new walk)."""
    report.since = report.started_at - policy.audit_window()
    if box is None:
        return None
    cursor = AuditCursor.objects.filter(name="audit").first()
    if cursor is not None and cursor.since >= report.since - policy.audit_window():
        report.since = cursor.since
        report.resumed_from = cursor.position
        report.resumed_after = cursor.after_id
        cursor.runs += 1
        return cursor
    return AuditCursor(
        name="audit",
        since=report.since,
        position=0,
        walk_started_at=report.started_at,
        updated_at=report.started_at,
    )


def _audit_once(*, fix: bool, max_items: int, progress, box: TimeBox | None = None) -> AuditReport:
    report = AuditReport(started_at=clock.now())
    cursor = _start_walk(report, box)
    since = report.since
    seen: dict[str, PaymentIntentSnapshot] = {}
    kept_before: dict[int, set[str]] = {}
    # Paid orders created at or after this were checked (None: none yet, the walk's top).
    checked_before: datetime | None = (
        datetime.fromtimestamp(report.resumed_from + 1, UTC)
        if report.resumed_from is not None
        else None
    )
    pages = stripe_gateway.payment_intent_pages(
        created_gte=int(since.timestamp()),
        created_lte=report.resumed_from,
        with_charge=True,
        starting_after=report.resumed_after or None,
    )
    try:
        for page in pages:
            report.list_requests += 1
            _check_page(report, page.items, seen, kept_before, fix=fix)
            if page.items:
                low = min(pi.created for pi in page.items)
                # PaymentIntents of the second ``low`` may go on on the next page: orders of
                # that second are checked with the next slice, newer ones now.
                newer = max(since, datetime.fromtimestamp(low + 1, UTC))
                _check_paid_orders(report, seen, newer, checked_before)
                checked_before = newer
                report.checked_down_to = low
                if cursor is not None:
                    _save_cursor(cursor, low, page.cursor or "")
            if progress and report.list_requests % 5 == 0:
                progress(f"{report.payment_intents_seen} PaymentIntents read")
            if page.last:
                continue  # the window's end: finished below
            if report.payment_intents_seen >= max_items:
                report.stopped = f"read {max_items} PaymentIntents (--max-payment-intents)"
                break
            if box is not None and box.expired():
                report.stopped = STOPPED_TIME_BOX
                break
        else:
            # The walk reached the window's start: the oldest slice, then a new walk next time.
            _check_paid_orders(report, seen, since, checked_before)
            report.checked_down_to = int(since.timestamp())
            if cursor is not None and cursor.pk is not None:
                cursor.delete()
    except TryLater as exc:
        report.stopped = STOPPED_RATE_LIMITED
        logger.warning("audit stopped: rate limited", extra={"error": str(exc)})
    except GatewayError as exc:
        report.stopped = f"{STRIPE_FAILED}: {exc}"
        logger.warning("audit stopped: stripe error", extra={"error": str(exc)})
    _check_database(report, since)
    return report


def _check_page(report, items, seen, kept_before, *, fix: bool) -> None:
    pis_by_order: dict[int, list[PaymentIntentSnapshot]] = defaultdict(list)
    for pi in items:
        report.payment_intents_seen += 1
        if pi.metadata.get("shop") != settings.STRIPE_METADATA_TAG or pi.order_id is None:
            continue
        seen[pi.id] = pi
        pis_by_order[pi.order_id].append(pi)
    orders = Order.objects.in_bulk(list(pis_by_order))
    _check_money_at_stripe(report, pis_by_order, orders, fix=fix, kept_before=kept_before)


def _save_cursor(cursor: AuditCursor, position: int, after_id: str) -> None:
    cursor.position = position
    cursor.after_id = after_id
    cursor.updated_at = clock.now()
    cursor.save()
