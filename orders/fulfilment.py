"""The goods' side of an order: its fulfilment state machine and the return of goods to stock.

Fulfilment (``FULFILMENT_TRANSITIONS``: unfulfilled -> shipped -> delivered) is a state of its
own beside the payment's: nothing here writes ``Order.status``. ``transition_fulfilment_locked``
is the only writer of ``fulfilment_status``; ``restock_locked`` is the only code that puts a
paid order's goods back in stock (invariant I7: only when staff say they came back). Both run
under the order's row lock, taken by the caller; product rows are locked after it (see
``orders.state`` for the lock order).
"""

import logging

from catalog import stock
from orders import clock
from orders.exceptions import InvalidTransition
from orders.models import FULFILMENT_TRANSITIONS, FulfilmentStatus, Order

logger = logging.getLogger(__name__)


def transition_fulfilment_locked(order: Order, to_status: str, **fields) -> Order:
    """Move a locked order's goods to ``to_status``, setting ``fields`` (carrier, tracking...)."""
    from_status = order.fulfilment_status
    if to_status not in FULFILMENT_TRANSITIONS[from_status]:
        raise InvalidTransition(f"fulfilment {from_status} -> {to_status} is not allowed")
    now = clock.now()
    order.fulfilment_status = to_status
    if to_status == FulfilmentStatus.SHIPPED:
        order.shipped_at = now
    elif to_status == FulfilmentStatus.DELIVERED:
        order.delivered_at = now
    for name, value in fields.items():
        setattr(order, name, value)
    order.save(update_fields=["fulfilment_status", "shipped_at", "delivered_at", *fields])
    logger.info(
        "order fulfilment",
        extra={"order_id": order.pk, "from": from_status, "to": to_status},
    )
    return order


def units_not_restocked(order: Order) -> int:
    """How many units of the order's lines have not been put back in stock."""
    return sum(line.quantity - line.restocked_quantity for line in order.lines.all())


def restock_locked(order: Order) -> list[dict]:
    """Put back in stock every unit of a locked order not put back yet; return what moved.

    Each line is raised to its sold quantity at most, so a retry or a second submission
    (serialised by the order's lock) restocks nothing twice.
    """
    moved = []
    for line in order.lines.order_by("pk"):
        units = line.quantity - line.restocked_quantity
        if units <= 0:
            continue
        line.restocked_quantity = line.quantity
        line.save(update_fields=["restocked_quantity"])
        moved.append(
            {"line": line.pk, "product": line.product_id, "name": line.product_name, "units": units}
        )
    stock.release((m["product"], m["units"]) for m in moved)
    logger.info("order restocked", extra={"order_id": order.pk, "lines": len(moved)})
    return moved
