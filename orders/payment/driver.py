"""Step 2 of the checkout: create the order's one PaymentIntent, record it, then confirm it.

Outside any transaction: create an *unconfirmed* PaymentIntent, commit its id on the order
(a conditional UPDATE), and only then confirm it. So the one PaymentIntent that can ever
take money for an order is the one our row names (invariant I1). The outcome goes to
``apply.apply_payment_intent``; an unknown one leaves the order pending with a backoff.
"""

import logging

from django.db import DatabaseError, connection, transaction

import stripe_gateway
from orders import lease, logcontext, policy, state
from orders.models import Order, OrderEvent, OrderStatus, OutboxMessage
from orders.payment import apply, backoff
from orders.timeline import build_event, record_event, record_stripe_call
from stripe_gateway import (
    OutcomeUnknown,
    PaymentDeclined,
    PaymentIntentSnapshot,
    RequestRejected,
)

logger = logging.getLogger(__name__)


def attach_payment_intent(
    order_id: int, payment_intent_id: str, *, cause: str = "", stripe_status: str = ""
) -> str | None:
    """Write the PaymentIntent id on the order if none is there; return the id the row holds.

    The write and its timeline entry are one short transaction (the call is recorded even
    if another driver's PaymentIntent was recorded first).
    """
    logcontext.note(payment_intent_id=payment_intent_id)
    with transaction.atomic():
        attached = Order.objects.filter(pk=order_id, payment_intent_id__isnull=True).update(
            payment_intent_id=payment_intent_id
        )
        recorded = (
            payment_intent_id
            if attached
            else Order.objects.filter(pk=order_id)
            .values_list("payment_intent_id", flat=True)
            .first()
        )
        record_event(
            Order(pk=order_id),  # the entry needs only the id: no read of the row
            kind=OrderEvent.Kind.STRIPE,
            cause=cause,
            message="PaymentIntent created (unconfirmed) and recorded",
            details={
                "payment_intent": payment_intent_id,
                "status": stripe_status,
                "recorded": recorded,
            },
        )
    return recorded


def hand_back_connection(conn=connection) -> bool:
    """Give this thread's database connection back to its pool before a wait on Stripe.

    With a pool (``DB_POOL_SIZE``, the threaded web deployment) a thread needs a connection
    only while it talks to the database, so a few connections serve many threads that each
    wait two Stripe round trips per checkout; the next query takes one from the pool again.
    Only outside a transaction, where the driver always calls Stripe, and only with a pool:
    a persistent connection is kept, as closing it would cost a reconnect. True if given back.
    """
    if conn.connection is None or conn.in_atomic_block or not getattr(conn, "pool", None):
        return False
    conn.close()
    return True


def _shipping_of(order: Order) -> stripe_gateway.Shipping | None:
    """The order's delivery as Stripe's ``shipping``; None for an order recorded without one."""
    if not (order.full_name and order.address_line1 and order.country):
        return None
    return stripe_gateway.Shipping(
        name=order.full_name,
        line1=order.address_line1,
        line2=order.address_line2,
        city=order.city,
        postal_code=order.postal_code,
        country=str(order.country),
    )


def _create_and_attach(order: Order, *, cause: str) -> PaymentIntentSnapshot:
    hand_back_connection()
    pi = stripe_gateway.create_payment_intent(
        amount=order.total_amount,
        currency=order.currency,
        payment_method_id=order.payment_method_id,
        order_id=order.pk,
        order_reference=order.reference,
        idempotency_key=stripe_gateway.keys.create_key(order.idempotency_key, order.key_round),
        shipping=_shipping_of(order),
    )
    recorded = attach_payment_intent(order.pk, pi.id, cause=cause, stripe_status=pi.status)
    if recorded != pi.id:
        # Another driver recorded its PaymentIntent first. Ours was never confirmed, so no
        # money can move through it; cancel it so it does not linger.
        try:
            stripe_gateway.cancel_payment_intent(
                payment_intent_id=pi.id,
                idempotency_key=stripe_gateway.keys.spare_cancel_key(pi.id),
            )
        except (OutcomeUnknown, RequestRejected):
            logger.warning("could not cancel spare payment intent", extra={"payment_intent": pi.id})
        return stripe_gateway.retrieve_payment_intent(recorded)
    return pi


def _confirm(
    order: Order, pi: PaymentIntentSnapshot, *, cause: str
) -> tuple[PaymentIntentSnapshot, OrderEvent | None]:
    """Confirm the recorded PaymentIntent; return what Stripe says and, on success, its
    timeline entry (unsaved: the apply that follows writes it in its own transaction)."""
    hand_back_connection()
    try:
        confirmed = stripe_gateway.confirm_payment_intent(
            payment_intent_id=pi.id,
            idempotency_key=stripe_gateway.keys.confirm_key(order.idempotency_key, order.key_round),
        )
    except PaymentDeclined as exc:
        record_stripe_call(
            order.pk,
            "Payment declined",
            cause=cause,
            details={"payment_intent": pi.id, "code": exc.code},
        )
        try:
            return stripe_gateway.retrieve_payment_intent(pi.id), None
        except (OutcomeUnknown, RequestRejected):
            # Stripe said "declined" in so many words: that is the truth about this attempt.
            return pi.as_declined(code=exc.code, message=exc.message), None
    except RequestRejected:
        # Typically a concurrent driver confirmed first; read what happened.
        return stripe_gateway.retrieve_payment_intent(pi.id), None
    except OutcomeUnknown as exc:
        record_stripe_call(
            order.pk,
            "Confirm sent, outcome unknown",
            cause=cause,
            details={"payment_intent": pi.id, "error": str(exc), "replayed": exc.replayed},
        )
        after = stripe_gateway.retrieve_payment_intent(pi.id)
        if exc.key_spent and after.requires_confirmation:
            # Not confirmed, and this key would only ever replay its failure: give up this
            # attempt so that the next one confirms under a new key.
            raise
        return after, None
    note = build_event(
        order,
        kind=OrderEvent.Kind.STRIPE,
        cause=cause,
        message="PaymentIntent confirmed",
        details={"payment_intent": confirmed.id, "status": confirmed.status},
    )
    return confirmed, note


@logcontext.order_scope
def drive_payment(
    order_id: int,
    *,
    cause: str,
    lease_token: str | None = None,
    leased_order: Order | None = None,
    known_payment_intent: PaymentIntentSnapshot | None = None,
) -> Order:
    """Push a pending order's payment one step further; safe to call from anywhere, any time.

    Never raises for Stripe trouble, nor for a database that fails once the order was read:
    an unknown outcome leaves the order pending (with a backoff) for the reconciler. Returns
    the order as it stands afterwards (as last read, if the database is gone). Raises
    ``DatabaseError`` only when the order cannot be claimed or read at all.

    ``leased_order`` is the order as just read or written by a caller holding its lease
    under ``lease_token`` (``record_order``, the reconciler's batch claim): while that
    lease runs it is driven as it is, without claiming or reading it again.

    ``known_payment_intent`` is the order's PaymentIntent as a caller just read it in bulk
    (the reconciler's list of a ``created`` window): when it is the one the row names, it
    stands in for the one-by-one read. Applying it is safe even if it is a little stale:
    an older status never moves an order backwards (``apply``).
    """
    if leased_order is not None and lease.holds(leased_order, lease_token):
        token, order = lease_token, leased_order
    else:
        token, order = lease.claim_lease(order_id, token=lease_token), None
        if token is None:
            return Order.objects.get(pk=order_id)
    result = note = None
    try:
        order = order or Order.objects.get(pk=order_id)
        logcontext.note_order(order)
        if not order.is_pending or policy.past_give_up(order):
            return order
        if order.payment_intent_id is None:
            pi = _create_and_attach(order, cause=cause)
        elif (
            known_payment_intent is not None and known_payment_intent.id == order.payment_intent_id
        ):
            pi = known_payment_intent
        else:
            hand_back_connection()
            pi = stripe_gateway.retrieve_payment_intent(order.payment_intent_id)
        if pi.requires_confirmation:
            pi, note = _confirm(order, pi, cause=cause)
        result = apply.apply_payment_intent(order_id, pi, cause=cause, note=note)
        return result
    except OutcomeUnknown as exc:
        backoff.note_attempt_failed(
            order_id,
            str(exc),
            cause=cause,
            spent_key_round=order.key_round if exc.key_spent else None,
        )
    except RequestRejected as exc:
        _handle_rejected(order_id, exc, cause=cause)
    except DatabaseError as exc:
        # Our own write failed (perhaps after Stripe took the money): leave it pending.
        logger.warning("database failed while driving payment", extra={"order_id": order_id})
        backoff.note_attempt_failed(
            order_id, f"database error: {exc}", cause=cause, unsaved_note=note
        )
    finally:
        # An order that reached its end had its lease cleared by that same write.
        if result is None or result.is_pending:
            lease.release_lease(order_id, token)
    try:
        return Order.objects.get(pk=order_id)
    except DatabaseError:
        if order is None:
            raise  # nothing of the order could be read: the caller says so, not a made-up order
        return order  # as last read: still pending, its page tells the truth once we are back


def _handle_rejected(order_id: int, exc: RequestRejected, *, cause: str) -> None:
    """Stripe refused to create the PaymentIntent (bad card details): nothing was charged."""
    with transaction.atomic():
        order = state.lock_order(order_id)
        if order.payment_intent_id is None and order.is_pending:
            state.transition_locked(
                order,
                OrderStatus.PAYMENT_FAILED,
                cause=cause,
                reason=f"Stripe refused the payment details: {exc}",
                details={"http_status": exc.http_status, "code": exc.code},
            )
            # Refused before any charge (e.g. a PaymentMethod Stripe does not know): no email.
            apply.notify_unpaid(order, OutboxMessage.Kind.PAYMENT_FAILED_EMAIL, cause=cause)
        else:
            record_event(
                order,
                kind=OrderEvent.Kind.STRIPE,
                cause=cause,
                message="Stripe rejected a request.",
                details={"http_status": exc.http_status, "code": exc.code, "error": str(exc)},
            )
