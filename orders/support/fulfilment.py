"""What staff do with a paid order's goods: ship them, mark them delivered, take them back.

Each action locks the order, re-checks its state, and either does everything (the change,
its timeline entry, its email in the outbox) in one transaction or refuses with a reason
and changes nothing. None of them touches the payment's state machine. A replayed
submission (same ``request_token``) returns the order as the first one left it.
"""

from django.db import transaction

from orders import fulfilment
from orders.exceptions import ActionRefused
from orders.models import FulfilmentStatus, Order, OrderStatus, OutboxMessage
from orders.outbox.store import enqueue_outbox
from orders.state import lock_order
from orders.support.actions import (
    already_audited,
    audit,
    refundable_amount,
    require_reason,
    require_token,
)

MAX_CARRIER_LENGTH = 64
MAX_TRACKING_LENGTH = 64


def _require_paid(order: Order, *, doing: str) -> None:
    """Refuse unless the order is paid and no refund of all of it is on its way."""
    if order.status != OrderStatus.PAID:
        raise ActionRefused(
            f"Only a paid order can be {doing}; "
            f"order {order.reference} is {order.get_status_display().lower()}."
        )
    if refundable_amount(order) <= 0:
        raise ActionRefused(
            f"Order {order.reference} is being refunded in full; it cannot be {doing}."
        )


def _require_text(value: str, *, label: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ActionRefused(f"Please give the {label}.")
    if len(value) > max_length:
        raise ActionRefused(f"The {label} is longer than {max_length} characters.")
    return value


def ship_order(
    *, order_id: int, actor, carrier: str, tracking_reference: str, request_token: str
) -> Order:
    """Mark a paid order shipped with its carrier and tracking reference; email the customer."""
    carrier = _require_text(carrier, label="carrier", max_length=MAX_CARRIER_LENGTH)
    tracking_reference = _require_text(
        tracking_reference, label="tracking reference", max_length=MAX_TRACKING_LENGTH
    )
    request_token = require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        if already_audited(order, action="ship", request_token=request_token):
            return order
        _require_paid(order, doing="shipped")
        if order.fulfilment_status != FulfilmentStatus.UNFULFILLED:
            shown = order.get_fulfilment_status_display().lower()
            raise ActionRefused(
                f"Order {order.reference} is already {shown} "
                f"({order.carrier}, tracking {order.tracking_reference})."
            )
        if any(line.restocked_quantity for line in order.lines.all()):
            raise ActionRefused(
                f"The goods of order {order.reference} were returned to stock; "
                "it cannot be shipped."
            )
        fulfilment.transition_fulfilment_locked(
            order,
            FulfilmentStatus.SHIPPED,
            carrier=carrier,
            tracking_reference=tracking_reference,
        )
        message = enqueue_outbox(order, OutboxMessage.Kind.SHIPPED_EMAIL)
        audit(
            order,
            action="ship",
            actor=actor,
            reason=f"Shipped with {carrier}, tracking {tracking_reference}.",
            details={
                "request_token": request_token,
                "carrier": carrier,
                "tracking_reference": tracking_reference,
                "outbox_id": message.pk,
            },
        )
    return order


def mark_delivered(*, order_id: int, actor, reason: str, request_token: str) -> Order:
    """Record that a shipped order reached the customer."""
    reason = (reason or "").strip()[:500] or "Delivered."
    request_token = require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        if already_audited(order, action="deliver", request_token=request_token):
            return order
        _require_paid(order, doing="marked delivered")
        if order.fulfilment_status != FulfilmentStatus.SHIPPED:
            raise ActionRefused(
                f"Only a shipped order can be marked delivered; order {order.reference} is "
                f"{order.get_fulfilment_status_display().lower()}."
            )
        fulfilment.transition_fulfilment_locked(order, FulfilmentStatus.DELIVERED)
        audit(
            order,
            action="deliver",
            actor=actor,
            reason=reason,
            details={"request_token": request_token},
        )
    return order


def restock_goods(*, order_id: int, actor, reason: str, request_token: str) -> list[dict]:
    """Put the goods of a paid (or refunded) order back in stock: they came back.

    Every unit not returned yet goes back once; an order whose goods are all back is refused.
    An unpaid order's stock is released automatically when it is unwound, never here.
    """
    reason = require_reason(reason)
    request_token = require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        previous = order.events.filter(
            cause="staff:restock", details__request_token=request_token
        ).first()
        if previous is not None:
            return previous.details.get("restocked", [])
        if order.stock_released:
            # Unwound unpaid orders, and orders refunded before restocking was staff's call.
            raise ActionRefused(
                f"The stock of order {order.reference} ({order.get_status_display().lower()}) "
                "was already released; nothing more can go back."
            )
        if order.status not in (OrderStatus.PAID, OrderStatus.REFUNDED):
            raise ActionRefused(
                f"Order {order.reference} is {order.get_status_display().lower()}: only a paid "
                "or refunded order's goods can be returned to stock."
            )
        if fulfilment.units_not_restocked(order) == 0:
            raise ActionRefused(f"All the goods of order {order.reference} are already in stock.")
        moved = fulfilment.restock_locked(order)
        audit(
            order,
            action="restock",
            actor=actor,
            reason=reason,
            details={"request_token": request_token, "restocked": moved},
        )
    return moved
