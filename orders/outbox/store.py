"""Write outbox messages and read the queue; the dispatch task is queued by dotted name.

The store never imports what performs a message: ``enqueue_outbox`` asks django-q2 to run
``orders.tasks.dispatch_outbox_message`` after the commit, and a sweep every minute catches
whatever that queueing missed.
"""

import logging

from django.db import transaction
from django.db.models import QuerySet

from orders import clock, lease
from orders.models import Order, OutboxMessage
from qworker.brokers import enqueue_errors

logger = logging.getLogger(__name__)

DISPATCH_TASK = "orders.tasks.dispatch_outbox_message"

# The outbox's uniqueness key, as its constraint declares it.
OUTBOX_KEY = next(
    c.fields for c in OutboxMessage._meta.constraints if c.name == "outbox_one_per_order_kind"
)


def enqueue_outbox(
    order: Order, kind: str, *, discriminator: str = "", payload: dict | None = None
) -> OutboxMessage:
    """Write a side effect into the outbox inside the caller's transaction; dispatch on commit.

    The (order, kind, discriminator) key makes this idempotent: however many paths ask for
    the same confirmation email, one row exists and one email goes out.
    """
    now = clock.now()
    message = OutboxMessage(
        order=order,
        kind=kind,
        discriminator=discriminator,
        payload=payload or {},
        available_at=now,
        created_at=now,
    )
    if _insert_unless_present(message):
        transaction.on_commit(lambda: queue_dispatch(message.pk))
        return message
    return OutboxMessage.objects.get(order=order, kind=kind, discriminator=discriminator)


def _insert_unless_present(message: OutboxMessage) -> bool:
    """Insert the row unless its (order, kind, discriminator) exists; True if inserted.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL, and SQLite >= 3.35 for
    the demo) where ``get_or_create`` takes four round trips: SELECT, SAVEPOINT, INSERT,
    RELEASE. It is on every checkout's path.
    """
    meta = OutboxMessage._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    key = ", ".join(quote(meta.get_field(name).column) for name in OUTBOX_KEY)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    params = [f.get_db_prep_save(f.pre_save(message, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    return True


def queue_dispatch(message_id: int) -> None:
    """Queue one message for dispatch; if queueing fails the periodic sweep still sends it."""
    from django_q.tasks import async_task  # only once the app registry is ready

    try:
        async_task(DISPATCH_TASK, message_id, task_name=f"outbox-{message_id}")
    except enqueue_errors():  # the database's, or Redis's when it is the broker
        logger.warning("could not queue outbox dispatch", extra={"outbox_id": message_id})


def due_message_ids(limit: int = 500) -> list[int]:
    """Pending messages whose time has come and that nobody holds, oldest first."""
    now = clock.now()
    return list(
        OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING, available_at__lte=now)
        .filter(lease.free(now))
        .order_by("available_at")
        .values_list("pk", flat=True)[:limit]
    )


def queued_refunds(
    order: Order, *, payment_intent_id: str | None = None, include_failed: bool = False
) -> QuerySet[OutboxMessage]:
    """Refunds of the order not made yet: pending ones (and, asked for, those that gave up)."""
    states = [OutboxMessage.State.PENDING]
    if include_failed:
        states.append(OutboxMessage.State.FAILED)
    refunds = OutboxMessage.objects.filter(
        order=order, kind=OutboxMessage.Kind.REFUND, state__in=states
    )
    if payment_intent_id is not None:
        refunds = refunds.filter(payload__payment_intent_id=payment_intent_id)
    return refunds


def queued_refund_total(order: Order, **filters) -> int:
    """The money of ``queued_refunds`` (minor units)."""
    return sum(
        int(payload.get("amount", 0))
        for payload in queued_refunds(order, **filters).values_list("payload", flat=True)
    )
