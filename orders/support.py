"""What support staff may do to an order: each action idempotent, audited and refused when unsafe.

Every action takes a ``request_token`` that identifies one submission of the staff form: a
double-clicked button or a replayed POST maps to the same outbox row and does nothing twice.
"""

import logging

from django.db import transaction

from orders import services
from orders.exceptions import ActionRefused
from orders.models import Order, OrderEvent, OrderStatus, OutboxMessage

logger = logging.getLogger(__name__)


def _audit(order: Order, *, action: str, actor, reason: str, details: dict | None = None) -> None:
    services.record_event(
        order,
        kind=OrderEvent.Kind.STAFF,
        cause=f"staff:{action}",
        message=reason,
        details={"user": getattr(actor, "username", ""), **(details or {})},
        actor=actor,
    )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ActionRefused("Please give a reason; it is recorded in the order's history.")
    return reason[:500]


def reconcile_now(*, order_id: int, actor, reason: str = "Reconcile requested by support") -> Order:
    """Read the payment at Stripe now and apply it (or unwind the order past its deadline)."""
    from payments.reconcile import reconcile_order

    with transaction.atomic():
        order = services.lock_order(order_id)
        if not order.is_pending:
            raise ActionRefused(f"Order {order.reference} is already {order.get_status_display().lower()}.")
        _audit(order, action="reconcile", actor=actor, reason=reason)
    reconcile_order(order_id)
    return Order.objects.get(pk=order_id)


def cancel_unpaid_order(*, order_id: int, actor, reason: str) -> Order:
    """Cancel and unwind an order that is not paid: its PaymentIntent is closed first."""
    reason = _require_reason(reason)
    with transaction.atomic():
        order = services.lock_order(order_id)
        if order.status == OrderStatus.PAID:
            raise ActionRefused("This order is paid: refund it instead of cancelling it.")
        if not order.is_pending:
            raise ActionRefused(f"Order {order.reference} is already {order.get_status_display().lower()}.")
        _audit(order, action="cancel", actor=actor, reason=reason)
    order = services.unwind_order(order_id, cause="staff:cancel", reason=f"Cancelled by support: {reason}", actor=actor)
    if order.is_pending:
        raise ActionRefused(
            "Stripe could not be reached or the payment is still in flight; the order stays "
            "pending and the reconciler will finish it. Try again in a minute."
        )
    return order


def refundable_amount(order: Order) -> int:
    """What may still be refunded: the total less refunds made and refunds already queued."""
    queued = order.outbox.filter(
        kind=OutboxMessage.Kind.REFUND,
        state=OutboxMessage.State.PENDING,
        payload__payment_intent_id=order.payment_intent_id,
    )
    return max(order.total_amount - order.refunded_amount - sum(int(m.payload["amount"]) for m in queued), 0)


def refund_order(*, order_id: int, amount: int | None, actor, reason: str, request_token: str) -> OutboxMessage:
    """Queue a full (``amount=None``) or partial refund of a paid order, once per request."""
    reason = _require_reason(reason)
    if not request_token:
        raise ActionRefused("This form has expired; reload the page and try again.")
    with transaction.atomic():
        order = services.lock_order(order_id)
        existing = order.outbox.filter(kind=OutboxMessage.Kind.REFUND, discriminator=f"staff:{request_token}").first()
        if existing:
            return existing
        if order.status != OrderStatus.PAID:
            raise ActionRefused(f"Only paid orders can be refunded; this one is {order.get_status_display().lower()}.")
        left = refundable_amount(order)
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise ActionRefused(f"The refund must be between 0.01 and {left / 100:.2f} {order.currency.upper()}.")
        message = services.enqueue_outbox(
            order,
            OutboxMessage.Kind.REFUND,
            discriminator=f"staff:{request_token}",
            payload={"payment_intent_id": order.payment_intent_id, "amount": amount, "reason": reason},
        )
        _audit(order, action="refund", actor=actor, reason=reason, details={"amount": amount})
    return message


def resend_confirmation(*, order_id: int, actor, reason: str, request_token: str) -> OutboxMessage:
    """Send the confirmation email of a paid order again, once per request."""
    reason = _require_reason(reason)
    if not request_token:
        raise ActionRefused("This form has expired; reload the page and try again.")
    with transaction.atomic():
        order = services.lock_order(order_id)
        if order.status != OrderStatus.PAID:
            raise ActionRefused("Only a paid order has a confirmation to resend.")
        existing = order.outbox.filter(
            kind=OutboxMessage.Kind.CONFIRMATION_EMAIL, discriminator=f"resend:{request_token}"
        ).first()
        if existing:
            return existing
        message = services.enqueue_outbox(
            order, OutboxMessage.Kind.CONFIRMATION_EMAIL, discriminator=f"resend:{request_token}"
        )
        _audit(order, action="resend_confirmation", actor=actor, reason=reason)
    return message
