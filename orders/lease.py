"""Leases: a row column saying who may work on an order (or an outbox message) until when.

A lease is not a transaction: it is taken and given back with one conditional UPDATE each,
and a holder that dies simply lets it run out. ``free`` is the one definition of "nobody
holds it now", used by every claim.
"""

import logging
import uuid
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Q

from orders import clock, policy
from orders.models import PENDING_STATUSES, Order

logger = logging.getLogger(__name__)


def free(now: datetime) -> Q:
    """Rows whose lease is not held by anyone at ``now`` (never taken, or run out)."""
    return Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def new_token() -> str:
    return uuid.uuid4().hex


def holds(order: Order, token: str | None, *, now: datetime | None = None) -> bool:
    """Whether ``order`` as read is leased to ``token`` and the lease still runs."""
    return bool(
        token
        and order.lease_token == token
        and order.lease_until is not None
        and order.lease_until > (now or clock.now())
    )


def claim_lease(order_id: int, *, token: str | None = None) -> str | None:
    """Take the right to drive an order's payment for a while; None if someone else has it."""
    token = token or new_token()
    now = clock.now()
    claimed = (
        Order.objects.filter(pk=order_id, status__in=PENDING_STATUSES)
        .filter(free(now) | Q(lease_token=token))
        .update(lease_until=now + policy.driver_lease(), lease_token=token)
    )
    return token if claimed else None


def release_lease(order_id: int, token: str) -> None:
    """Give the lease back (a no-op if it already ran out or passed to someone else)."""
    try:
        Order.objects.filter(pk=order_id, lease_token=token).update(
            lease_until=None, lease_token=""
        )
    except DatabaseError:
        # The lease expires on its own; the next driver only waits a little longer.
        logger.warning("could not release lease", extra={"order_id": order_id})
