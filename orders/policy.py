"""The payments' timing policy, every rule about *when* in one place (``settings.PAYMENTS``).

Grace period, driver lease, retry backoff, give-up deadline, "long wait" on the customer's
page and the "stuck" deadline for staff: read them here, never from the settings directly.
"""

from datetime import datetime, timedelta

from django.conf import settings

from orders import clock


def setting(name: str):
    """One entry of ``settings.PAYMENTS`` (read at call time: tests override settings)."""
    return settings.PAYMENTS[name]


def grace_period() -> timedelta:
    """How long a new pending order is left to its own request before the reconciler looks."""
    return setting("GRACE_PERIOD")


def driver_lease() -> timedelta:
    """How long one driver (a request or a reconciler) holds an order before others may."""
    return setting("DRIVER_LEASE")


def outbox_lease() -> timedelta:
    """How long a dispatcher holds an outbox message; a dead one's message waits this long."""
    return setting("OUTBOX_LEASE")


def retry_delay(attempts: int) -> timedelta:
    """The backoff after ``attempts`` failed attempts: doubling from RETRY_BASE up to RETRY_MAX."""
    return min(setting("RETRY_BASE") * (2 ** min(max(attempts - 1, 0), 16)), setting("RETRY_MAX"))


def give_up_at(created_at: datetime) -> datetime:
    """When an order created at ``created_at`` is unwound if it is still unpaid.

    Until then its idempotency key may be sent to Stripe; after it, never again (Stripe
    forgets keys after 24 hours, and a system check keeps this far inside that window).
    """
    return created_at + setting("GIVE_UP_AFTER")


def past_give_up(order, *, now: datetime | None = None) -> bool:
    """Whether the order's give-up deadline has passed (its key is no longer sent)."""
    return (now or clock.now()) >= give_up_at(order.created_at)


def stuck_after() -> timedelta:
    """How long an order may stay pending before it is stuck: the give-up delay plus one backoff."""
    return setting("GIVE_UP_AFTER") + setting("RETRY_MAX")


def waited_too_long(order, *, now: datetime | None = None) -> bool:
    """Whether the customer's page should say "this is taking longer than usual"."""
    return order.is_pending and (now or clock.now()) - order.created_at > setting("LONG_WAIT")


def audit_window() -> timedelta:
    """How far back the audit holds Stripe's payments against our orders."""
    return setting("AUDIT_WINDOW")


def reconcile_batch_size() -> int:
    return setting("RECONCILE_BATCH_SIZE")


def reconcile_concurrency() -> int:
    """Orders one reconciler converges at once (threads), to overlap Stripe's round trips."""
    return setting("RECONCILE_CONCURRENCY")


def sweep_time_box() -> timedelta:
    """How long one scheduled sweep (reconciler, audit) may run: a share of the task timeout.

    django-q kills a task at ``Q_CLUSTER["timeout"]``; a sweep that stops well before that
    gives back its claims and reports, where a killed one would leave both undone.
    """
    return timedelta(seconds=setting("SWEEP_TIME_BOX_SHARE") * settings.Q_CLUSTER["timeout"])
