"""What support staff may do to an order: each action idempotent, audited and refused when unsafe.

Every action takes a ``request_token`` that identifies one submission of the staff form: a
double-clicked button or a replayed POST maps to the same outbox row and does nothing twice.
"""

import logging

from django.db import transaction

from orders import fulfilment
from orders.exceptions import ActionRefused
from orders.models import Order, OrderEvent, OrderStatus, OutboxMessage
from orders.outbox.store import enqueue_outbox, queued_refund_total
from orders.payment import converge, unwind
from orders.state import lock_order
from orders.support.explain import explain_error
from orders.timeline import record_event
from stripe_gateway import GatewayError

logger = logging.getLogger(__name__)


def audit(order: Order, *, action: str, actor, reason: str, details: dict | None = None) -> None:
    """Record a staff action on the order's timeline (cause ``staff:<action>``), with who."""
    record_event(
        order,
        kind=OrderEvent.Kind.STAFF,
        cause=f"staff:{action}",
        message=reason,
        details={"user": getattr(actor, "username", ""), **(details or {})},
        actor=actor,
    )


def require_reason(reason: str, *, kept: str = "it is recorded in the order's history") -> str:
    """The reason staff gave, trimmed; refused when empty (``kept``: where it is kept)."""
    reason = (reason or "").strip()
    if not reason:
        raise ActionRefused(f"Please give a reason; {kept}.")
    return reason[:500]


# The token ends up in an outbox discriminator (64 characters, with a short prefix).
MAX_TOKEN_LENGTH = 48


def require_token(request_token: str) -> str:
    """The staff form's submission token; refused when missing or too long (an old form)."""
    if not request_token or len(request_token) > MAX_TOKEN_LENGTH:
        raise ActionRefused("This form has expired; reload the page and try again.")
    return request_token


def _refused_by_stripe(exc: GatewayError) -> ActionRefused:
    """Stripe's refusal in plain words; its own text is kept as the folded technical detail."""
    explained = explain_error(exc, retrying=False)
    return ActionRefused(f"{explained.plain} The order is unchanged.", detail=explained.detail)


def already_audited(order: Order, *, action: str, request_token: str) -> bool:
    """Whether this very submission (same form token) was already recorded for the order."""
    if not request_token:
        return False
    return order.events.filter(
        kind=OrderEvent.Kind.STAFF, cause=f"staff:{action}", details__request_token=request_token
    ).exists()


def reconcile_now(*, order_id: int, actor, reason: str = "", request_token: str = "") -> Order:
    """Read the payment at Stripe now and apply it (or unwind the order past its deadline).

    A replayed submission (same ``request_token``) of a reconcile that already finished the
    order returns the order as it is instead of refusing.
    """
    reason = (reason or "").strip()[:500] or "Reconcile requested by support"
    with transaction.atomic():
        order = lock_order(order_id)
        replay = already_audited(order, action="reconcile", request_token=request_token)
        if not order.is_pending:
            if replay:
                return order
            raise ActionRefused(
                f"Order {order.reference} is already {order.get_status_display().lower()}."
            )
        if not replay:
            audit(
                order,
                action="reconcile",
                actor=actor,
                reason=reason,
                details={"request_token": request_token} if request_token else None,
            )
    try:
        converge.converge_order(order_id)
    except GatewayError as exc:
        # Stripe refused a request outright (e.g. it does not know the PaymentIntent).
        logger.warning("support reconcile failed", extra={"order_id": order_id, "error": str(exc)})
        raise _refused_by_stripe(exc) from exc
    return Order.objects.get(pk=order_id)


def cancel_unpaid_order(*, order_id: int, actor, reason: str, request_token: str = "") -> Order:
    """Cancel and unwind an order that is not paid: its PaymentIntent is closed first.

    If Stripe turns out to have taken the payment after all, the order becomes paid instead
    and the action is refused with that news (the money is kept for a fulfillable order).
    A replayed submission (same ``request_token``) of a finished cancel returns the order.
    """
    reason = require_reason(reason)
    with transaction.atomic():
        order = lock_order(order_id)
        replay = already_audited(order, action="cancel", request_token=request_token)
        if replay and order.status == OrderStatus.CANCELED:
            return order
        if order.status == OrderStatus.PAID:
            raise ActionRefused("This order is paid: refund it instead of cancelling it.")
        if not order.is_pending:
            raise ActionRefused(
                f"Order {order.reference} is already {order.get_status_display().lower()}."
            )
        if not replay:
            audit(
                order,
                action="cancel",
                actor=actor,
                reason=reason,
                details={"request_token": request_token} if request_token else None,
            )
    try:
        order = unwind.unwind_order(
            order_id,
            cause="staff:cancel",
            reason="Cancelled by our support team; nothing was charged.",
            actor=actor,
        )
    except GatewayError as exc:
        logger.warning("support cancel failed", extra={"order_id": order_id, "error": str(exc)})
        raise _refused_by_stripe(exc) from exc
    if order.status == OrderStatus.PAID:
        raise ActionRefused(
            "Stripe had already taken the payment, so the order is now paid and was not "
            "cancelled. Refund it if the customer does not want it."
        )
    if order.is_pending:
        raise ActionRefused(
            "Stripe could not be reached or the payment is still in flight; the order stays "
            "pending and the reconciler will finish it. Try again in a minute."
        )
    return order


def refundable_amount(order: Order) -> int:
    """What may still be refunded: the total less refunds made and refunds already queued."""
    queued = queued_refund_total(order, payment_intent_id=order.payment_intent_id)
    return max(order.total_amount - order.refunded_amount - queued, 0)


def refund_order(
    *, order_id: int, amount: int | None, restock: bool, actor, reason: str, request_token: str
) -> OutboxMessage:
    """Queue a full (``amount=None``) or partial refund of a paid order, once per request.

    ``restock``: staff say the goods are back (or never left): every unit not yet returned
    goes back to stock in the same transaction. Otherwise stock is left alone (I7).
    """
    reason = require_reason(reason)
    request_token = require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        existing = order.outbox.filter(
            kind=OutboxMessage.Kind.REFUND, discriminator=f"staff:{request_token}"
        ).first()
        if existing:
            return existing
        if order.status != OrderStatus.PAID:
            raise ActionRefused(
                "Only paid orders can be refunded; "
                f"this one is {order.get_status_display().lower()}."
            )
        left = refundable_amount(order)
        if left <= 0:
            raise ActionRefused(
                "Nothing is left to refund: the whole order is refunded or queued for refund."
            )
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise ActionRefused(
                f"The refund must be between 0.01 and {left / 100:.2f} {order.currency.upper()}."
            )
        message = enqueue_outbox(
            order,
            OutboxMessage.Kind.REFUND,
            discriminator=f"staff:{request_token}",
            payload={
                "payment_intent_id": order.payment_intent_id,
                "amount": amount,
                "reason": reason,
            },
        )
        moved = fulfilment.restock_locked(order) if restock else []
        audit(
            order,
            action="refund",
            actor=actor,
            reason=reason,
            details={
                "amount": amount,
                "request_token": request_token,
                "outbox_id": message.pk,
                "restock": restock,
                "restocked": moved,
            },
        )
    return message


def resend_confirmation(*, order_id: int, actor, reason: str, request_token: str) -> OutboxMessage:
    """Send the confirmation email of a paid order again, once per request."""
    reason = require_reason(reason)
    request_token = require_token(request_token)
    with transaction.atomic():
        order = lock_order(order_id)
        # A replay returns what the first submission did, whatever the order became since.
        existing = order.outbox.filter(
            kind=OutboxMessage.Kind.CONFIRMATION_EMAIL, discriminator=f"resend:{request_token}"
        ).first()
        if existing:
            return existing
        if order.status != OrderStatus.PAID:
            raise ActionRefused("Only a paid order has a confirmation to resend.")
        message = enqueue_outbox(
            order, OutboxMessage.Kind.CONFIRMATION_EMAIL, discriminator=f"resend:{request_token}"
        )
        audit(
            order,
            action="resend_confirmation",
            actor=actor,
            reason=reason,
            details={"request_token": request_token, "outbox_id": message.pk},
        )
    return message
