"""Unwind an unpaid order: close its PaymentIntent at Stripe, release stock, tell the customer.

If Stripe says the payment succeeded after all, the order is paid instead: money that came
in for a still-fulfillable order is kept and the order completed. Nothing is re-sent with
the order's creation key: an order that never recorded a PaymentIntent is cancelled without
calling Stripe (we never confirm a PaymentIntent that is not on our row).
"""

from django.db import DatabaseError, transaction

import stripe_gateway
from orders import lease, logcontext, state
from orders.models import Order, OrderStatus, OutboxMessage
from orders.payment import apply, backoff
from orders.timeline import record_stripe_call
from stripe_gateway import OutcomeUnknown, RequestRejected


@logcontext.order_scope
def unwind_order(
    order_id: int, *, cause: str, reason: str, actor=None, lease_token: str | None = None
) -> Order:
    """Cancel an unpaid order, or complete it if Stripe took its payment after all."""
    token = lease.claim_lease(order_id, token=lease_token)
    if token is None:
        return Order.objects.get(pk=order_id)
    try:
        order = Order.objects.get(pk=order_id)
        if not order.is_pending:
            return order
        if order.payment_intent_id is None:
            # We never confirm a PaymentIntent that is not on our row, so nothing was charged.
            with transaction.atomic():
                order = state.lock_order(order_id)
                if order.is_pending and order.payment_intent_id is None:
                    state.transition_locked(
                        order, OrderStatus.CANCELED, cause=cause, reason=reason, actor=actor
                    )
                    apply.notify_unpaid(order, OutboxMessage.Kind.CANCELED_EMAIL, cause=cause)
                if not order.is_pending or order.payment_intent_id is None:
                    return order
        pi = stripe_gateway.retrieve_payment_intent(order.payment_intent_id)
        attempted = pi.charge_attempted  # as it stood before we cancel it
        if pi.cancellable:
            try:
                pi = stripe_gateway.cancel_payment_intent(
                    payment_intent_id=pi.id,
                    idempotency_key=stripe_gateway.keys.cancel_key(
                        order.idempotency_key, order.key_round
                    ),
                )
                record_stripe_call(
                    order_id,
                    "PaymentIntent cancelled",
                    cause=cause,
                    details={"payment_intent": pi.id},
                )
            except RequestRejected:
                pi = stripe_gateway.retrieve_payment_intent(pi.id)
        if pi.canceled:
            with transaction.atomic():
                order = state.lock_order(order_id)
                if order.is_pending:
                    order.charge_attempted = order.charge_attempted or attempted
                    state.transition_locked(
                        order,
                        OrderStatus.CANCELED,
                        cause=cause,
                        reason=reason,
                        actor=actor,
                        details={"payment_intent": pi.id},
                    )
                    apply.notify_unpaid(order, OutboxMessage.Kind.CANCELED_EMAIL, cause=cause)
                return order
        order = apply.apply_payment_intent(order_id, pi, cause=cause)
        if order.is_pending:
            backoff.note_attempt_failed(
                order_id, f"PaymentIntent is {pi.status}; cannot cancel yet", cause=cause
            )
        return order
    except OutcomeUnknown as exc:
        backoff.note_attempt_failed(
            order_id,
            f"{type(exc).__name__}: {exc}",
            cause=cause,
            spent_key_round=order.key_round if exc.key_spent else None,
        )
    except RequestRejected as exc:
        # Stripe does not know the PaymentIntent (wrong account or key?). Keep the order
        # pending for staff to see rather than guess what happened.
        backoff.note_attempt_failed(order_id, f"{type(exc).__name__}: {exc}", cause=cause)
    except DatabaseError as exc:
        backoff.note_attempt_failed(order_id, f"database error: {exc}", cause=cause)
    finally:
        lease.release_lease(order_id, token)
    return Order.objects.get(pk=order_id)
