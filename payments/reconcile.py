"""The reconciler's sweep: push every stale pending order to PAID or to fully unwound.

Any number of workers on any number of hosts may run ``reconcile_pending_orders`` at once:
each claims a batch with ``SELECT ... FOR UPDATE SKIP LOCKED`` and stamps a lease on it in
one short transaction, then works on the orders outside any transaction. An order that
does not converge is retried later with an exponential backoff recorded on the row. What
is done to each order is ``orders.payment.converge``; this module finds and claims them.

Stripe is read in bulk: a batch's PaymentIntents are listed by their ``created`` window,
100 a request (``PaymentIntentWindow``), and only an order whose PaymentIntent the list did
not bring is read on its own. Creating and confirming stay one order at a time. A run may be
time-boxed (the scheduled one is): it stops claiming when its time is up, gives back the
orders it claimed but did not work on, and the next run takes them (oldest first).
"""

import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Q

import stripe_gateway
from orders import clock, lease, policy
from orders.models import PENDING_STATUSES, Order
from orders.payment.converge import converge_order, describe_plan
from payments.models import ReconcilerRun
from payments.sweeps import STOPPED_RATE_LIMITED, STOPPED_TIME_BOX, TimeBox, stripe_work
from stripe_gateway import PaymentIntentSnapshot, TryLater

logger = logging.getLogger(__name__)


# A PaymentIntent is created right after its order is recorded (same request); these bound
# the window listed for a batch around its orders' ``created_at``, with room for the two
# clocks (ours, Stripe's) to disagree and for a slow create. A PaymentIntent outside it is
# read on its own. Each second of margin costs a list page per 100 orders a second the shop
# took when the backlog formed (at 60 s + 120 s, a busy shop's relists cost ~6x the pages).
WINDOW_BEFORE = timedelta(seconds=15)
WINDOW_AFTER = timedelta(seconds=45)
# Listed snapshots older than this are listed again rather than applied.
LISTED_MAX_AGE = 60.0
# A rate-limited list is tried this many times (a second apart) before the run stops.
LIST_TRIES = 3


@dataclass
class ReconcileSummary:
    outcomes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    stopped: str = ""  # why the run ended before nothing was due (empty: it finished)
    released: int = 0  # orders claimed but not worked on, given back for the next run
    list_requests: int = 0
    settled_from_list: int = 0  # orders whose PaymentIntent came from a list, not a read

    @property
    def partial(self) -> bool:
        return bool(self.stopped)

    @property
    def examined(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.outcomes["error"]


def _due_filter(*, now, older_than: timedelta | None, order_ids: list[int] | None) -> Q:
    query = Q(status__in=PENDING_STATUSES) & lease.free(now)
    if order_ids:
        return query & Q(pk__in=order_ids)
    cutoff = now - (older_than if older_than is not None else policy.grace_period())
    query &= Q(created_at__lte=cutoff)
    return query & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def claim_batch(*, size: int, token: str, older_than=None, order_ids=None) -> list[int]:
    """Claim up to ``size`` due orders, oldest first, skipping rows other workers hold."""
    now = clock.now()
    with transaction.atomic():
        ids = list(
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_due_filter(now=now, older_than=older_than, order_ids=order_ids))
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:size]
        )
        if ids:
            Order.objects.filter(pk__in=ids).update(
                lease_until=now + policy.driver_lease(), lease_token=token
            )
    return ids


def release_claims(ids: Iterable[int], *, token: str) -> int:
    """Give back orders this run claimed and did not work on; the next run takes them."""
    ids = list(ids)
    if not ids:
        return 0
    return Order.objects.filter(pk__in=ids, lease_token=token).update(
        lease_until=None, lease_token=""
    )


class PaymentIntentWindow:
    """The PaymentIntents of the batches a run works on, listed by ``created`` window.

    Batches are claimed oldest first, so their windows follow one another. The run keeps the
    ranges it listed (``segments``) and when, and lists only the part of a batch's window
    that no range listed in the last ``LISTED_MAX_AGE`` seconds covers: usually the stretch
    past the previous batch's window, and a stretch listed too long ago once more.
    """

    def __init__(self, summary: ReconcileSummary, box: TimeBox):
        self.summary = summary
        self.box = box
        # id -> (snapshot, when it was listed: time.monotonic())
        self.by_id: dict[str, tuple[PaymentIntentSnapshot, float]] = {}
        # [gte, lte] in Unix seconds, listed at (time.monotonic())
        self.segments: list[tuple[int, int, float]] = []
        self.monotonic = time.monotonic

    def read(self, orders: list[Order]) -> dict[str, PaymentIntentSnapshot]:
        """The listed PaymentIntents of ``orders`` that are on their rows (raises TryLater)."""
        wanted = [o for o in orders if o.payment_intent_id and not policy.past_give_up(o)]
        if not wanted:
            return {}
        low = int((min(o.created_at for o in wanted) - WINDOW_BEFORE).timestamp())
        high = int((max(o.created_at for o in wanted) + WINDOW_AFTER).timestamp())
        fresh_since = self.monotonic() - LISTED_MAX_AGE
        # What was listed too long ago, or lies before this batch's window, is not used again.
        self.segments = [s for s in self.segments if s[2] >= fresh_since and s[1] >= low]
        self.by_id = {
            k: (pi, at)
            for k, (pi, at) in self.by_id.items()
            if at >= fresh_since and pi.created >= low
        }
        for gte, lte in uncovered(low, high, self.segments):
            listed_at = self.monotonic()
            self._list(gte, lte, listed_at)
            self.segments.append((gte, lte, listed_at))
        return {
            o.payment_intent_id: self.by_id[o.payment_intent_id][0]
            for o in wanted
            if o.payment_intent_id in self.by_id
        }

    def _list(self, gte: int, lte: int, listed_at: float) -> None:
        """List ``[gte, lte]`` into ``by_id``; a 429 is tried again a second later, from the
        page it hit, a few times (raises TryLater when it persists or time runs out)."""
        cursor: str | None = None
        tries = 0
        while True:
            pages = stripe_gateway.payment_intent_pages(
                created_gte=gte, created_lte=lte, starting_after=cursor
            )
            try:
                for page in pages:
                    self.summary.list_requests += 1
                    for pi in page.items:
                        self.by_id[pi.id] = (pi, listed_at)
                    cursor = page.cursor
                return
            except TryLater:
                self.summary.list_requests += 1
                tries += 1
                if tries >= LIST_TRIES or self.box.left() < 2:
                    raise
                time.sleep(1.0)


def uncovered(low: int, high: int, segments: list[tuple[int, int, float]]) -> list[tuple[int, int]]:
    """The parts of ``[low, high]`` (whole seconds) that no segment covers.

    A part starts at the last second of the segment before it: PaymentIntents created in
    that second after it was listed are read with the next part (Stripe's ``created`` is
    in whole seconds).
    """
    parts = []
    at = low
    for gte, lte, _ in sorted(segments):
        if lte < at:
            continue
        if gte > at:
            parts.append((at, min(gte, high)))
        at = max(at, lte)
        if at >= high:
            return parts
    parts.append((at, high))
    return parts


def _reconcile_batch(
    ids: list[int],
    *,
    token: str,
    summary: ReconcileSummary,
    box: TimeBox,
    window: PaymentIntentWindow,
) -> None:
    """Converge a claimed batch, RECONCILE_CONCURRENCY orders at a time.

    The batch's PaymentIntents are listed (a request per 100); an order whose PaymentIntent
    came with the list is settled without another read. Each order that must still call
    Stripe (create, confirm, cancel) waits on its round trip; one at a time, a worker's
    throughput is one over that latency. Threads (each with its own database connection,
    closed at the end) overlap those waits, and the list with them: the orders that never
    reached Stripe (nothing to list) are started while it runs, the others once it is done.
    Orders are independent: leases and row locks keep them apart. When the time box runs
    out, orders not yet started are given back.
    """
    lock = threading.Lock()
    orders = Order.objects.in_bulk(ids)
    listed: dict[str, PaymentIntentSnapshot] = {}

    def converge(order_id: int) -> None:
        order = orders.get(order_id)
        try:
            outcome = converge_order(
                order_id,
                lease_token=token,
                leased_order=order if order is not None and lease.holds(order, token) else None,
                known_payment_intent=listed.get(order.payment_intent_id or "") if order else None,
            )
        except DatabaseError as exc:
            outcome = "error"
            with lock:
                summary.errors.append(f"order {order_id}: database error: {exc}")
            logger.warning("reconcile failed", extra={"order_id": order_id})
        with lock:
            summary.outcomes[outcome] += 1

    def read_list() -> None:
        listed.update(window.read(list(orders.values())))
        summary.settled_from_list += len(listed)

    left_over: list[int] = []

    def start(order_id: int) -> None:
        if box.expired():
            with lock:
                left_over.append(order_id)
        else:
            converge(order_id)

    concurrency = min(policy.reconcile_concurrency(), len(ids))
    if concurrency <= 1:
        read_list()
        for order_id in ids:
            start(order_id)
    else:
        # None tells a thread that nothing more will come.
        todo: queue.SimpleQueue[int | None] = queue.SimpleQueue()

        def drain_on_thread() -> None:
            try:
                with stripe_work("reconcile"):
                    while (order_id := todo.get()) is not None:
                        start(order_id)
            finally:
                connection.close()  # this thread's own connection

        in_stripe = [pk for pk in ids if pk in orders and orders[pk].payment_intent_id]
        listing = set(in_stripe)
        for order_id in ids:  # oldest first
            if order_id not in listing:
                todo.put(order_id)
        threads = [
            threading.Thread(target=drain_on_thread, name=f"reconcile-{i}")
            for i in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            read_list()  # meanwhile, the threads create and confirm
            for order_id in in_stripe:
                todo.put(order_id)
        finally:
            for _ in threads:
                todo.put(None)
            for thread in threads:
                thread.join()
    if left_over:
        summary.released += release_claims(left_over, token=token)
        summary.stopped = STOPPED_TIME_BOX


def reconcile_pending_orders(
    *,
    older_than: timedelta | None = None,
    order_ids: list[int] | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    max_orders: int | None = None,
    progress: Callable[[str], None] | None = None,
    record_run: bool = True,
    time_box: TimeBox | None = None,
) -> ReconcileSummary:
    """Sweep stale pending orders in batches until none is due (or ``max_orders`` is reached).

    With ``time_box`` the sweep stops claiming once its time is up, and orders it claimed
    but had not started are given back: ``summary.stopped`` says why it ended early. A
    list that Stripe keeps rate-limiting ends the run the same way.
    """
    summary = ReconcileSummary()
    batch_size = batch_size or policy.reconcile_batch_size()
    if dry_run:
        qs = Order.objects.filter(
            _due_filter(now=clock.now(), older_than=older_than, order_ids=order_ids)
        ).order_by("created_at", "pk")
        for order in qs[: max_orders or None].iterator(chunk_size=batch_size):
            summary.planned.append(describe_plan(order))
        return summary

    box = time_box or TimeBox()
    run = ReconcilerRun.start() if record_run else None
    token = uuid.uuid4().hex
    window = PaymentIntentWindow(summary, box)
    done = 0
    try:
        with stripe_work("reconcile"):
            while max_orders is None or done < max_orders:
                if box.expired():
                    summary.stopped = STOPPED_TIME_BOX
                    break
                size = batch_size if max_orders is None else min(batch_size, max_orders - done)
                ids = claim_batch(
                    size=size, token=token, older_than=older_than, order_ids=order_ids
                )
                if not ids:
                    break
                try:
                    _reconcile_batch(ids, token=token, summary=summary, box=box, window=window)
                except TryLater:
                    summary.released += release_claims(ids, token=token)
                    summary.stopped = STOPPED_RATE_LIMITED
                    logger.warning("reconcile stopped: rate limited", extra={"batch": len(ids)})
                    break
                done += len(ids)
                if progress:
                    progress(f"{done} orders examined: {dict(summary.outcomes)}")
                if order_ids or summary.stopped:
                    break
    finally:
        if run is not None:
            run.finish(summary)
    if summary.stopped:
        logger.info(
            "reconcile run stopped early",
            extra={"reason": summary.stopped, "released": summary.released, "done": done},
        )
    return summary
