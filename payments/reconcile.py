"""The reconciler: push every stale pending order to PAID or to fully unwound.

Any number of workers on any number of hosts may run ``reconcile_pending_orders`` at once:
each claims a batch with ``SELECT ... FOR UPDATE SKIP LOCKED`` and stamps a lease on it in
one short transaction, then works on the orders outside any transaction. An order that
does not converge is retried later with an exponential backoff recorded on the row.
"""

import logging
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from orders import services
from orders.models import PENDING_STATUSES, Order
from payments import gateway
from payments.exceptions import GatewayError
from payments.models import ReconcilerRun
from shop import clock

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
    query = Q(status__in=PENDING_STATUSES) & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    if order_ids:
        return query & Q(pk__in=order_ids)
    cutoff = now - (older_than if older_than is not None else services.policy("GRACE_PERIOD"))
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
                lease_until=now + services.policy("DRIVER_LEASE"), lease_token=token
            )
    return ids


def reconcile_order(order_id: int, *, lease_token: str | None = None) -> str:
    """Converge one order as far as Stripe allows now; return what happened to it."""
    order = Order.objects.get(pk=order_id)
    if not order.is_pending:
        return "already_final"
    if services.give_up_window_passed(order):
        order = services.unwind_order(
            order_id,
            cause="reconciler:give_up",
            reason="The payment did not complete in time; the order was cancelled and nothing kept.",
            lease_token=lease_token,
        )
    else:
        # The order was read under the batch's lease: drive it without claiming it again.
        order = services.drive_payment(
            order_id, cause="reconciler", lease_token=lease_token, leased_order=order
        )
        if order.is_pending and _not_backed_off(order):
            # Stripe answered but the payment is still in flight (processing, 3-D Secure):
            # look again later rather than at once.
            services.note_attempt_failed(order_id, f"payment still {order.status}", cause="reconciler")
    return order.status if not order.is_pending else "still_pending"


def _not_backed_off(order: Order) -> bool:
    """Whether the attempt left no backoff behind (so the next sweep would pick it at once)."""
    return order.next_attempt_at is None or order.next_attempt_at <= clock.now()


def describe_plan(order: Order) -> str:
    """Say what the reconciler would do with an order, without doing it."""
    if services.give_up_window_passed(order):
        action = "give up: cancel its PaymentIntent and unwind (or mark paid if it succeeded)"
    elif order.payment_intent_id is None:
        action = "create its PaymentIntent (same idempotency key), record it, confirm it"
    else:
        action = f"read {order.payment_intent_id} from Stripe and apply its status"
        try:
            pi = gateway.retrieve_payment_intent(order.payment_intent_id)
            action += f" (Stripe says: {pi.status})"
        except GatewayError as exc:
            action += f" (Stripe unreachable now: {exc})"
    age = clock.now() - order.created_at
    return f"{order.reference} [{order.status}, {int(age.total_seconds())}s old]: would {action}"


def _reconcile_batch(ids: list[int], *, token: str, summary: ReconcileSummary) -> None:
    """Converge a claimed batch, RECONCILE_CONCURRENCY orders at a time.

    Each order waits on Stripe's round trip; one at a time, a worker's throughput is one
    over that latency. Threads (each with its own database connection, closed at the end)
    overlap those waits. Orders are independent: leases and row locks keep them apart.
    """
    lock = threading.Lock()

    def converge(order_id: int) -> None:
        try:
            outcome = reconcile_order(order_id, lease_token=token)
        except DatabaseError as exc:
            outcome = "error"
            with lock:
                summary.errors.append(f"order {order_id}: database error: {exc}")
            logger.warning("reconcile failed", extra={"order_id": order_id})
        with lock:
            summary.outcomes[outcome] += 1

    concurrency = min(settings.PAYMENTS.get("RECONCILE_CONCURRENCY", 1), len(ids))
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
    batch_size = batch_size or services.policy("RECONCILE_BATCH_SIZE")
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
