"""Step 3: apply Stripe's truth about a PaymentIntent (or its refunds) to the order.

Checkout, webhooks, the reconciler, the audit and support all come here. Each function
locks the order row, re-reads its state and moves it only as far as Stripe's answer
allows: idempotent and order-insensitive, so a stale or repeated snapshot never moves a
final order, and money that arrives for an order that can no longer take it is refunded.
"""

from django.db import transaction

from orders import logcontext, state
from orders.models import Order, OrderEvent, OrderStatus, OutboxMessage
from orders.outbox.store import enqueue_outbox
from orders.timeline import record_event
from stripe_gateway import PaymentIntentSnapshot


def notify_unpaid(order: Order, kind: str, *, cause: str) -> None:
    """Queue a "payment failed" or "cancelled" email, only if Stripe attempted a charge.

    Otherwise nobody proved they own the address: a card tester's made-up PaymentMethod,
    refused by Stripe before any charge, must not make the shop mail whoever they named.
    The order's page still says what happened; the timeline says why no email went.
    """
    if order.charge_attempted:
        enqueue_outbox(order, kind)
        return
    record_event(
        order,
        kind=OrderEvent.Kind.NOTE,
        cause=cause,
        message="No email sent: Stripe never attempted a charge for this order.",
        details={"email_not_sent": kind},
    )


@logcontext.order_scope
def apply_payment_intent(
    order_id: int,
    pi: PaymentIntentSnapshot,
    *,
    cause: str,
    event_kind: str = OrderEvent.Kind.STRIPE,
    note: OrderEvent | None = None,
) -> Order:
    """Apply what Stripe says about a PaymentIntent to its order, under the order's row lock.

    ``note`` (an unsaved timeline entry, e.g. the confirm call that produced ``pi``) is
    written in the same transaction, before whatever the snapshot causes.
    """
    with transaction.atomic():
        order = state.lock_order(order_id)
        if note is not None:
            note.save(force_insert=True)
        if order.payment_intent_id and pi.id != order.payment_intent_id:
            _handle_foreign_payment_intent(order, pi, cause=cause)
            return order
        if order.payment_intent_id is None:
            order.payment_intent_id = pi.id
            order.save(update_fields=["payment_intent_id"])
        status_before = order.status
        newly_attempted = pi.charge_attempted and not order.charge_attempted
        if newly_attempted:
            order.charge_attempted = True  # written by the transition below, if any
        matches = pi.amount == order.total_amount and pi.currency == order.currency

        if pi.succeeded and not matches:
            _refund_unfulfillable(
                order,
                pi,
                cause=cause,
                reason=(
                    f"Stripe took {pi.amount} {pi.currency} but the order is for "
                    f"{order.total_amount} {order.currency}; refunded in full."
                ),
            )
        elif pi.succeeded and order.is_pending:
            state.transition_locked(
                order, OrderStatus.PAID, cause=cause, details={"payment_intent": pi.id}
            )
            enqueue_outbox(order, OutboxMessage.Kind.CONFIRMATION_EMAIL)
        elif pi.succeeded and order.status in (OrderStatus.CANCELED, OrderStatus.PAYMENT_FAILED):
            _refund_unfulfillable(
                order,
                pi,
                cause=cause,
                reason="The payment succeeded after the order had been closed; refunded in full.",
            )
        elif pi.canceled and order.is_pending:
            state.transition_locked(
                order,
                OrderStatus.CANCELED,
                cause=cause,
                reason=order.status_reason
                or "The payment was cancelled at Stripe; nothing was charged.",
                details={"payment_intent": pi.id},
            )
            notify_unpaid(order, OutboxMessage.Kind.CANCELED_EMAIL, cause=cause)
        elif pi.declined and order.is_pending:
            state.transition_locked(
                order,
                OrderStatus.PAYMENT_FAILED,
                cause=cause,
                reason=pi.last_error_message or "Your card was declined.",
                details={"payment_intent": pi.id, "code": pi.last_error_code},
                decline_code=pi.last_error_code,
            )
            notify_unpaid(order, OutboxMessage.Kind.PAYMENT_FAILED_EMAIL, cause=cause)
            # Close the PaymentIntent so that it can never succeed later.
            enqueue_outbox(
                order,
                OutboxMessage.Kind.CANCEL_PAYMENT_INTENT,
                discriminator=pi.id,
                payload={"payment_intent_id": pi.id},
            )
        elif pi.requires_action and order.status == OrderStatus.PAYMENT_STARTING:
            state.transition_locked(
                order, OrderStatus.REQUIRES_ACTION, cause=cause, details={"payment_intent": pi.id}
            )
        elif event_kind == OrderEvent.Kind.WEBHOOK or not order.is_pending:
            record_event(
                order,
                kind=event_kind,
                cause=cause,
                message=f"PaymentIntent is {pi.status}; order stays {order.get_status_display()}.",
                details={"payment_intent": pi.id, "status": pi.status},
            )
        if newly_attempted and order.status == status_before:
            order.save(update_fields=["charge_attempted"])
        return order


def _handle_foreign_payment_intent(order: Order, pi: PaymentIntentSnapshot, *, cause: str) -> None:
    """A PaymentIntent names this order but is not the one on its row: never keep its money."""
    record_event(
        order,
        kind=OrderEvent.Kind.NOTE,
        cause=cause,
        message=f"PaymentIntent {pi.id} is not this order's ({order.payment_intent_id}).",
        details={"payment_intent": pi.id, "status": pi.status},
    )
    if pi.succeeded:
        enqueue_outbox(
            order,
            OutboxMessage.Kind.REFUND,
            discriminator=f"extra:{pi.id}",
            payload={
                "payment_intent_id": pi.id,
                "amount": pi.amount,
                "reason": "A second payment for the same order; refunded in full.",
            },
        )
    elif pi.cancellable:
        enqueue_outbox(
            order,
            OutboxMessage.Kind.CANCEL_PAYMENT_INTENT,
            discriminator=pi.id,
            payload={"payment_intent_id": pi.id},
        )


def _refund_unfulfillable(
    order: Order, pi: PaymentIntentSnapshot, *, cause: str, reason: str
) -> None:
    if order.is_pending:
        state.transition_locked(order, OrderStatus.CANCELED, cause=cause, reason=reason)
        notify_unpaid(order, OutboxMessage.Kind.CANCELED_EMAIL, cause=cause)
    else:
        order.status_reason = reason[:255]
        order.save(update_fields=["status_reason"])
        record_event(order, kind=OrderEvent.Kind.NOTE, cause=cause, message=reason)
    enqueue_outbox(
        order,
        OutboxMessage.Kind.REFUND,
        discriminator=f"unfulfillable:{pi.id}",
        payload={"payment_intent_id": pi.id, "amount": pi.amount, "reason": reason},
    )


@logcontext.order_scope
def record_refund(
    order_id: int, *, payment_intent_id: str, refunded_total: int, refund_id: str, cause: str
) -> Order:
    """Book what Stripe has refunded of a PaymentIntent, as a running total.

    Booking Stripe's total (not adding each refund) makes this idempotent whichever path
    reports a refund first: the outbox that made it, a retry whose reply was lost, or the
    ``charge.refunded`` webhook. A full refund of a paid order makes it REFUNDED.
    """
    with transaction.atomic():
        order = state.lock_order(order_id)
        if payment_intent_id != order.payment_intent_id:
            record_event(
                order,
                kind=OrderEvent.Kind.STRIPE,
                cause=cause,
                message=(
                    f"Refunded {refunded_total} {order.currency} of {payment_intent_id} "
                    "(not this order's payment)."
                ),
                details={
                    "refund": refund_id,
                    "payment_intent": payment_intent_id,
                    "refunded_total": refunded_total,
                },
            )
            return order
        booked = min(order.total_amount, refunded_total)
        if booked <= order.refunded_amount:
            return order  # already booked by another path
        added = booked - order.refunded_amount
        order.refunded_amount = booked
        order.save(update_fields=["refunded_amount"])
        record_event(
            order,
            kind=OrderEvent.Kind.STRIPE,
            cause=cause,
            message=f"Refunded {added} {order.currency}; {booked} refunded in all.",
            details={
                "refund": refund_id,
                "payment_intent": payment_intent_id,
                "amount": added,
                "refunded_total": booked,
            },
        )
        # The customer hears of every refund of a paid order, partial ones too; each email
        # says what this refund gave back and what is left (its own figures, fixed here).
        email = {"amount": added, "refunded_total": booked}
        if order.status == OrderStatus.PAID and order.refunded_amount >= order.total_amount:
            state.transition_locked(
                order, OrderStatus.REFUNDED, cause=cause, reason="Refunded in full."
            )
            enqueue_outbox(order, OutboxMessage.Kind.REFUNDED_EMAIL, payload=email)
        elif order.status == OrderStatus.PAID:
            enqueue_outbox(
                order,
                OutboxMessage.Kind.REFUNDED_EMAIL,
                discriminator=f"partial:{booked}",
                payload=email,
            )
        return order
