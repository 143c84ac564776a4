"""The reconciler's sweep: push every stale pending order to PAID or to fully unwound.

Any number of workers on any number of hosts may run ``reconcile_pending_orders`` at once:
each claims a batch with ``SELECT ... FOR UPDATE SKIP LOCKED`` and stamps a lease on it in
one short transaction, then works on the orders outside any transaction. An order that
does not converge is retried later with an exponential backoff recorded on the row. What
is done to each order is ``orders.payment.converge``; this module finds and claims them.
"""

import logging
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from orders import clock, lease, policy
from orders.models import PENDING_STATUSES, Order
from orders.payment.converge import converge_order, describe_plan
from payments.models import ReconcilerRun

logger = logging.getLogger(__name__)


@dataclass
class ReconcileSummary:
    outcomes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)

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


def _reconcile_batch(ids: list[int], *, token: str, summary: ReconcileSummary) -> None:
    """Converge a claimed batch, RECONCILE_CONCURRENCY orders at a time.

    Each order waits on Stripe's round trip; one at a time, a worker's throughput is one
    over that latency. Threads (each with its own database connection, closed at the end)
    overlap those waits. Orders are independent: leases and row locks keep them apart.
    """
    lock = threading.Lock()

    def converge(order_id: int) -> None:
        try:
            outcome = converge_order(order_id, lease_token=token)
        except DatabaseError as exc:
            outcome = "error"
            with lock:
                summary.errors.append(f"order {order_id}: database error: {exc}")
            logger.warning("reconcile failed", extra={"order_id": order_id})
        with lock:
            summary.outcomes[outcome] += 1

    concurrency = min(policy.reconcile_concurrency(), len(ids))
    if concurrency <= 1:
        for order_id in ids:
            converge(order_id)
        return
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for order_id in ids:
        todo.put(order_id)

    def drain() -> None:
        try:
            while True:
                try:
                    order_id = todo.get_nowait()
                except queue.Empty:
                    return
                converge(order_id)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=drain, name=f"reconcile-{i}") for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def reconcile_pending_orders(
    *,
    older_than: timedelta | None = None,
    order_ids: list[int] | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    max_orders: int | None = None,
    progress: Callable[[str], None] | None = None,
    record_run: bool = True,
) -> ReconcileSummary:
    """Sweep stale pending orders in batches until none is due (or ``max_orders`` is reached)."""
    summary = ReconcileSummary()
    batch_size = batch_size or policy.reconcile_batch_size()
    if dry_run:
        qs = Order.objects.filter(
            _due_filter(now=clock.now(), older_than=older_than, order_ids=order_ids)
        ).order_by("created_at", "pk")
        for order in qs[: max_orders or None].iterator(chunk_size=batch_size):
            summary.planned.append(describe_plan(order))
        return summary

    run = ReconcilerRun.start() if record_run else None
    token = uuid.uuid4().hex
    done = 0
    try:
        while max_orders is None or done < max_orders:
            size = batch_size if max_orders is None else min(batch_size, max_orders - done)
            ids = claim_batch(size=size, token=token, older_than=older_than, order_ids=order_ids)
            if not ids:
                break
            _reconcile_batch(ids, token=token, summary=summary)
            done += len(ids)
            if progress:
                progress(f"{done} orders examined: {dict(summary.outcomes)}")
            if order_ids:
                break
    finally:
        if run is not None:
            run.finish(summary)
    return summary
