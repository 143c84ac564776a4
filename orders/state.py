"""The state machine's one writer: lock an order, move it along ``TRANSITIONS``, record it.

``TRANSITIONS`` (in ``orders.models``) is the table of allowed moves; ``transition_locked``
is the only code that writes ``Order.status``. Lock order: an order row is always locked
before product rows (stock) and outbox rows.
"""

import logging

from django.db import transaction

from catalog import stock
from orders import clock, logcontext
from orders.exceptions import InvalidTransition
from orders.models import (
    PENDING_STATUSES,
    STOCK_RELEASING_STATUSES,
    TRANSITIONS,
    Order,
    OrderEvent,
)
from orders.timeline import record_event

logger = logging.getLogger(__name__)


def lock_order(order_id: int) -> Order:
    """Lock and return the order row; call inside ``transaction.atomic()``."""
    order = Order.objects.select_for_update().get(pk=order_id)
    logcontext.note_order(order)
    return order


def _release_stock(order: Order) -> None:
    stock.release(order.lines.values_list("product_id", "quantity"))
    order.stock_released = True


def transition_locked(
    order: Order,
    to_status: str,
    *,
    cause: str,
    reason: str = "",
    details: dict | None = None,
    actor=None,
    decline_code: str = "",
) -> Order:
    """Move a locked order to ``to_status`` and record it: the only writer of ``status``.

    An order that leaves the pending states no longer needs a driver, so its lease is
    cleared in the same write (a late ``release_lease`` then matches nothing).
    """
    from_status = order.status
    if to_status not in TRANSITIONS[from_status]:
        raise InvalidTransition(f"{from_status} -> {to_status} is not allowed")
    now = clock.now()
    order.status = to_status
    order.status_changed_at = now
    if reason:
        order.status_reason = reason[:255]
    if decline_code:
        order.decline_code = decline_code[:64]
    if to_status in STOCK_RELEASING_STATUSES and not order.stock_released:
        _release_stock(order)
    update_fields = [
        "status",
        "status_changed_at",
        "status_reason",
        "stock_released",
        "next_attempt_at",
        "decline_code",
        "charge_attempted",  # set by the caller from Stripe's answer; same UPDATE
    ]
    if to_status not in PENDING_STATUSES:
        order.next_attempt_at = None
        order.lease_until, order.lease_token = None, ""
        update_fields += ["lease_until", "lease_token"]
    order.save(update_fields=update_fields)
    record_event(
        order,
        kind=OrderEvent.Kind.TRANSITION,
        cause=cause,
        message=reason,
        details=details,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
    )
    logger.info(
        "order transition",
        extra={"order_id": order.pk, "from": from_status, "to": to_status, "cause": cause},
    )
    return order


@logcontext.order_scope
def transition_order(
    order_id: int, to_status: str, *, cause: str, reason: str = "", actor=None
) -> Order:
    """Lock the order and perform one transition in its own transaction."""
    with transaction.atomic():
        order = lock_order(order_id)
        return transition_locked(order, to_status, cause=cause, reason=reason, actor=actor)
