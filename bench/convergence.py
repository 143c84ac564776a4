"""Convergence: the orders and outbox messages still pending, and waiting until there are none."""

import time


def pending_orders() -> int:
    """Orders whose payment has no final outcome yet."""
    from orders.models import PENDING_STATUSES, Order

    return Order.objects.filter(status__in=PENDING_STATUSES).count()


def pending_counts() -> tuple[int, int]:
    """(pending orders, pending outbox messages); (-1, -1) while the database does not answer."""
    from django.db import DatabaseError, close_old_connections, connection

    from orders.models import OutboxMessage

    try:
        close_old_connections()
        return (
            pending_orders(),
            OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING).count(),
        )
    except DatabaseError:
        connection.close()
        return (-1, -1)


def wait_for_convergence(seconds: float, log) -> float | None:
    """Poll every second until nothing is pending; the seconds it took, or None after
    ``seconds``.
    """
    started = time.monotonic()
    last = None
    while time.monotonic() - started < seconds:
        counts = pending_counts()
        if counts != last:
            log(f"   pending orders: {counts[0]}, pending outbox messages: {counts[1]}")
            last = counts
        if counts == (0, 0):
            return time.monotonic() - started
        time.sleep(1)
    return None
