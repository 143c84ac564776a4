"""Order use cases: record, drive the payment, apply Stripe's truth, move the state machine.

The checkout is short transactions with the Stripe calls between them, never inside:

1. ``record_order``: one committed transaction saves the order in PAYMENT_STARTING with a
   server-made idempotency key and reserves its stock.
2. ``drive_payment``: outside any transaction, create an *unconfirmed* PaymentIntent,
   commit its id on the order, and only then confirm it. So the one PaymentIntent that can
   ever take money for an order is the one our row names (invariant I1).
3. ``apply_payment_intent``: a short transaction locks the order row, re-reads its state and
   applies what Stripe says. Checkout, webhooks, the reconciler and support all come here.

Lock order: an order row is always locked before product rows (stock) and outbox rows.
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q

from orders.exceptions import CheckoutNotStarted, EmptyCart, InvalidTransition, OutOfStock
from orders.models import (
    PENDING_STATUSES,
    STOCK_RELEASING_STATUSES,
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    OutboxMessage,
)
from payments import gateway
from payments.exceptions import OutcomeUnknown, PaymentDeclined, RequestRejected
from payments.gateway import PaymentIntentSnapshot
from shop import clock
from shop.models import Product

logger = logging.getLogger(__name__)

# The outbox's uniqueness key, as its constraint declares it.
OUTBOX_KEY = next(
    c.fields for c in OutboxMessage._meta.constraints if c.name == "outbox_one_per_order_kind"
)

CANCELLABLE_PI_STATUSES = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


def policy(name: str):
    return settings.PAYMENTS[name]


# --- The state machine -------------------------------------------------------------------


def build_event(
    order: Order,
    *,
    kind: str,
    cause: str,
    message: str = "",
    details: dict | None = None,
    actor=None,
    from_status: str = "",
    to_status: str = "",
) -> OrderEvent:
    """A timeline entry, not yet saved: for a caller that writes it in a later transaction."""
    return OrderEvent(
        order=order,
        at=clock.now(),
        kind=kind,
        cause=cause,
        message=message,
        details=details or {},
        actor=actor,
        from_status=from_status,
        to_status=to_status,
    )


def record_event(order: Order, **fields) -> OrderEvent:
    """Append an entry to the order's timeline."""
    event = build_event(order, **fields)
    event.save(force_insert=True)
    return event


def lock_order(order_id: int) -> Order:
    """Lock and return the order row; call inside ``transaction.atomic()``."""
    return Order.objects.select_for_update().get(pk=order_id)


def _release_stock(order: Order) -> None:
    # Products are locked in id order so two releases never deadlock.
    for line in order.lines.order_by("product_id"):
        Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
    order.stock_released = True


def transition_locked(
    order: Order,
    to_status: str,
    *,
    cause: str,
    reason: str = "",
    details: dict | None = None,
    actor=None,
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
    if to_status in STOCK_RELEASING_STATUSES and not order.stock_released:
        _release_stock(order)
    update_fields = [
        "status", "status_changed_at", "status_reason", "stock_released", "next_attempt_at"
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


def transition_order(order_id: int, to_status: str, *, cause: str, reason: str = "", actor=None) -> Order:
    """Lock the order and perform one transition in its own transaction."""
    with transaction.atomic():
        order = lock_order(order_id)
        return transition_locked(order, to_status, cause=cause, reason=reason, actor=actor)


# --- The outbox --------------------------------------------------------------------------


def enqueue_outbox(
    order: Order, kind: str, *, discriminator: str = "", payload: dict | None = None
) -> OutboxMessage:
    """Write a side effect into the outbox inside the caller's transaction; dispatch on commit.

    The (order, kind, discriminator) key makes this idempotent: however many paths ask for
    the same confirmation email, one row exists and one email goes out.
    """
    now = clock.now()
    message = OutboxMessage(
        order=order, kind=kind, discriminator=discriminator, payload=payload or {},
        available_at=now, created_at=now,
    )
    if _insert_unless_present(message):
        from orders.tasks import schedule_outbox_dispatch

        transaction.on_commit(lambda: schedule_outbox_dispatch(message.pk))
        return message
    return OutboxMessage.objects.get(order=order, kind=kind, discriminator=discriminator)


def _insert_unless_present(message: OutboxMessage) -> bool:
    """Insert the row unless its (order, kind, discriminator) exists; True if inserted.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL, and SQLite >= 3.35 for
    the demo) where ``get_or_create`` takes four round trips: SELECT, SAVEPOINT, INSERT,
    RELEASE. It is on every checkout's path.
    """
    meta = OutboxMessage._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    key = ", ".join(quote(meta.get_field(name).column) for name in OUTBOX_KEY)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    params = [f.get_db_prep_save(f.pre_save(message, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    return True


# --- Step 1: record the order ----------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def record_order(
    *,
    lines: Iterable[LineRequest],
    email: str,
    payment_method_id: str,
    checkout_token: str,
    lease_token: str = "",
) -> Order:
    """Commit the order in PAYMENT_STARTING with its lines, total and reserved stock.

    With ``lease_token`` the order is committed already leased to its creator, who drives
    its payment next: no other driver takes it meanwhile, and no separate claim is needed.
    """
    lines = sorted(lines, key=lambda line: line.product_id)
    if not lines:
        raise EmptyCart("Your cart is empty.")
    now = clock.now()
    with transaction.atomic():
        products = Product.objects.in_bulk([line.product_id for line in lines])
        currencies = {p.currency for p in products.values()}
        if len(products) != len(lines) or len(currencies) != 1:
            raise OutOfStock("Some products in your cart are no longer available.")
        total = sum(products[line.product_id].price * line.quantity for line in lines)
        order = Order.objects.create(
            checkout_token=checkout_token,
            email=email,
            total_amount=total,
            currency=currencies.pop(),
            payment_method_id=payment_method_id,
            created_at=now,
            status_changed_at=now,
            next_attempt_at=now + policy("GRACE_PERIOD"),
            lease_token=lease_token,
            lease_until=now + policy("DRIVER_LEASE") if lease_token else None,
        )
        for line in lines:
            product = products[line.product_id]
            reserved = Product.objects.filter(
                pk=product.pk, is_active=True, stock__gte=line.quantity
            ).update(stock=F("stock") - line.quantity)
            if not reserved:
                raise OutOfStock(f"Sorry, there is not enough {product.name} left in stock.")
            OrderLine.objects.create(
                order=order,
                product=product,
                product_name=product.name,
                unit_price=product.price,
                quantity=line.quantity,
            )
        record_event(
            order,
            kind=OrderEvent.Kind.TRANSITION,
            cause="checkout",
            message="Order recorded, stock reserved, payment starting.",
            to_status=OrderStatus.PAYMENT_STARTING,
            details={"total": total, "idempotency_key": order.idempotency_key},
        )
    logger.info(
        "order recorded",
        extra={"order_id": order.pk, "idempotency_key": order.idempotency_key},
    )
    return order


def place_order(
    *, lines: Iterable[LineRequest], email: str, payment_method_id: str, checkout_token: str
) -> Order:
    """Record the order, then drive its payment; a resubmitted form drives the same order.

    The checkout token is unique, so a resubmitted form (double click, reload, second tab)
    fails to record a second order, whatever its cart holds now, and drives the first.
    """
    lease_token = uuid.uuid4().hex
    try:
        order = record_order(
            lines=lines,
            email=email,
            payment_method_id=payment_method_id,
            checkout_token=checkout_token,
            lease_token=lease_token,
        )
    except (IntegrityError, EmptyCart, OutOfStock) as exc:
        existing = (
            Order.objects.filter(checkout_token=checkout_token).values_list("pk", flat=True).first()
        )
        if existing is not None:
            logger.info("checkout resubmitted", extra={"order_id": existing})
            return drive_payment(existing, cause="checkout_retry")
        if isinstance(exc, IntegrityError):
            raise CheckoutNotStarted("We could not start your payment.") from exc
        raise
    except DatabaseError as exc:
        logger.warning("could not record order", extra={"checkout_token": checkout_token})
        raise CheckoutNotStarted("We could not start your payment.") from exc
    return drive_payment(order.pk, cause="checkout", lease_token=lease_token, leased_order=order)


# --- Step 2: drive the payment ---------------------------------------------------------


def claim_lease(order_id: int, *, token: str | None = None) -> str | None:
    """Take the right to drive an order's payment for a while; None if someone else has it."""
    token = token or uuid.uuid4().hex
    now = clock.now()
    claimed = (
        Order.objects.filter(pk=order_id, status__in=PENDING_STATUSES)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now) | Q(lease_token=token))
        .update(lease_until=now + policy("DRIVER_LEASE"), lease_token=token)
    )
    return token if claimed else None


def release_lease(order_id: int, token: str) -> None:
    try:
        Order.objects.filter(pk=order_id, lease_token=token).update(lease_until=None, lease_token="")
    except DatabaseError:
        # The lease expires on its own; the next driver only waits a little longer.
        logger.warning("could not release lease", extra={"order_id": order_id})


def note_attempt_failed(
    order_id: int, error: str, *, cause: str, unsaved_note: OrderEvent | None = None
) -> None:
    """Record a failed attempt and back off before the next one.

    ``unsaved_note`` is a timeline entry whose own transaction failed (the confirm that
    preceded a failed step 3): the story keeps it.
    """
    try:
        with transaction.atomic():
            order = lock_order(order_id)
            if unsaved_note is not None:
                unsaved_note.pk = None  # its first insert, if any, was rolled back
                unsaved_note.save(force_insert=True)
            if not order.is_pending:
                return
            order.attempts += 1
            delay = retry_delay(order.attempts)
            order.next_attempt_at = clock.now() + delay
            order.last_error = error[:2000]
            order.save(update_fields=["attempts", "next_attempt_at", "last_error"])
            record_event(
                order,
                kind=OrderEvent.Kind.RECONCILE,
                cause=cause,
                message=f"Outcome unknown, will retry in {int(delay.total_seconds())}s: {error}",
                details={"attempts": order.attempts},
            )
    except DatabaseError:
        logger.warning("could not record failed attempt", extra={"order_id": order_id})


def _record_stripe_call(order_id: int, call: str, *, cause: str, details: dict) -> None:
    try:
        with transaction.atomic():
            # The event needs only the order's id: no read of the row (one round trip less).
            record_event(
                Order(pk=order_id), kind=OrderEvent.Kind.STRIPE, cause=cause, message=call, details=details
            )
    except DatabaseError:
        logger.warning("could not record stripe call", extra={"order_id": order_id, "call": call})


def key_is_fresh(order: Order) -> bool:
    """Whether the order's idempotency key may still be sent to Stripe (inside the give-up window)."""
    return clock.now() < order.created_at + policy("GIVE_UP_AFTER")


def attach_payment_intent(
    order_id: int, payment_intent_id: str, *, cause: str = "", stripe_status: str = ""
) -> str | None:
    """Write the PaymentIntent id on the order if none is there; return the id the row holds.

    The write and its timeline entry are one short transaction (the call is recorded even
    if another driver's PaymentIntent was recorded first).
    """
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
                "payment_intent": payment_intent_id, "status": stripe_status, "recorded": recorded
            },
        )
    return recorded


def _create_and_attach(order: Order, *, cause: str) -> PaymentIntentSnapshot:
    pi = gateway.create_payment_intent(
        amount=order.total_amount,
        currency=order.currency,
        payment_method_id=order.payment_method_id,
        order_id=order.pk,
        order_reference=order.reference,
        idempotency_key=f"{order.idempotency_key}:create",
    )
    recorded = attach_payment_intent(order.pk, pi.id, cause=cause, stripe_status=pi.status)
    if recorded != pi.id:
        # Another driver recorded its PaymentIntent first. Ours was never confirmed, so no
        # money can move through it; cancel it so it does not linger.
        try:
            gateway.cancel_payment_intent(payment_intent_id=pi.id, idempotency_key=f"{pi.id}:cancel")
        except (OutcomeUnknown, RequestRejected):
            logger.warning("could not cancel spare payment intent", extra={"payment_intent": pi.id})
        return gateway.retrieve_payment_intent(recorded)
    return pi


def _confirm(
    order: Order, pi: PaymentIntentSnapshot, *, cause: str
) -> tuple[PaymentIntentSnapshot, OrderEvent | None]:
    """Confirm the recorded PaymentIntent; return what Stripe says and, on success, its
    timeline entry (unsaved: the apply that follows writes it in its own transaction)."""
    try:
        confirmed = gateway.confirm_payment_intent(
            payment_intent_id=pi.id, idempotency_key=f"{order.idempotency_key}:confirm"
        )
    except PaymentDeclined as exc:
        _record_stripe_call(
            order.pk, "Payment declined", cause=cause, details={"payment_intent": pi.id, "code": exc.code}
        )
        try:
            return gateway.retrieve_payment_intent(pi.id), None
        except (OutcomeUnknown, RequestRejected):
            # Stripe said "declined" in so many words: that is the truth about this attempt.
            return PaymentIntentSnapshot(
                id=pi.id,
                status="requires_payment_method",
                amount=pi.amount,
                currency=pi.currency,
                metadata=pi.metadata,
                last_error_code=exc.code,
                last_error_message=exc.message,
            ), None
    except RequestRejected:
        # Typically a concurrent driver confirmed first; read what happened.
        return gateway.retrieve_payment_intent(pi.id), None
    except OutcomeUnknown as exc:
        _record_stripe_call(
            order.pk,
            "Confirm sent, reply lost: outcome unknown",
            cause=cause,
            details={"payment_intent": pi.id, "error": str(exc)},
        )
        return gateway.retrieve_payment_intent(pi.id), None
    note = build_event(
        order,
        kind=OrderEvent.Kind.STRIPE,
        cause=cause,
        message="PaymentIntent confirmed",
        details={"payment_intent": confirmed.id, "status": confirmed.status},
    )
    return confirmed, note


def drive_payment(
    order_id: int, *, cause: str, lease_token: str | None = None, leased_order: Order | None = None
) -> Order:
    """Push a pending order's payment one step further; safe to call from anywhere, any time.

    Never raises for Stripe or database trouble: an unknown outcome leaves the order pending
    (with a backoff) for the reconciler. Returns the order as it stands afterwards.

    ``leased_order`` is the order as just read or written by a caller holding its lease
    under ``lease_token`` (``record_order``, the reconciler's batch claim): while that
    lease runs it is driven as it is, without claiming or reading it again.
    """
    if (
        leased_order is not None
        and lease_token
        and leased_order.lease_token == lease_token
        and leased_order.lease_until is not None
        and leased_order.lease_until > clock.now()
    ):
        token, order = lease_token, leased_order
    else:
        token, order = claim_lease(order_id, token=lease_token), None
        if token is None:
            return Order.objects.get(pk=order_id)
    result = note = None
    try:
        order = order or Order.objects.get(pk=order_id)
        if not order.is_pending or not key_is_fresh(order):
            return order
        if order.payment_intent_id is None:
            pi = _create_and_attach(order, cause=cause)
        else:
            pi = gateway.retrieve_payment_intent(order.payment_intent_id)
        if pi.status == "requires_confirmation":
            pi, note = _confirm(order, pi, cause=cause)
        result = apply_payment_intent(order_id, pi, cause=cause, note=note)
        return result
    except OutcomeUnknown as exc:
        note_attempt_failed(order_id, str(exc), cause=cause)
    except RequestRejected as exc:
        _handle_rejected(order_id, exc, cause=cause)
    except DatabaseError as exc:
        # Our own write failed (perhaps after Stripe took the money): leave it pending.
        logger.warning("database failed while driving payment", extra={"order_id": order_id})
        note_attempt_failed(order_id, f"database error: {exc}", cause=cause, unsaved_note=note)
    finally:
        # An order that reached its end had its lease cleared by that same write.
        if result is None or result.is_pending:
            release_lease(order_id, token)
    try:
        return Order.objects.get(pk=order_id)
    except DatabaseError:
        return Order(pk=order_id, status=OrderStatus.PAYMENT_STARTING)


def _handle_rejected(order_id: int, exc: RequestRejected, *, cause: str) -> None:
    """Stripe refused to create the PaymentIntent (bad card details): nothing was charged."""
    with transaction.atomic():
        order = lock_order(order_id)
        if order.payment_intent_id is None and order.is_pending:
            transition_locked(
                order,
                OrderStatus.PAYMENT_FAILED,
                cause=cause,
                reason=f"Stripe refused the payment details: {exc}",
                details={"http_status": exc.http_status, "code": exc.code},
            )
            enqueue_outbox(order, OutboxMessage.Kind.PAYMENT_FAILED_EMAIL)
        else:
            record_event(
                order,
                kind=OrderEvent.Kind.STRIPE,
                cause=cause,
                message=f"Stripe rejected a request: {exc}",
                details={"http_status": exc.http_status, "code": exc.code},
            )


# --- Step 3: apply Stripe's truth --------------------------------------------------------


def apply_payment_intent(
    order_id: int,
    pi: PaymentIntentSnapshot,
    *,
    cause: str,
    event_kind: str = OrderEvent.Kind.STRIPE,
    note: OrderEvent | None = None,
) -> Order:
    """Apply what Stripe says about a PaymentIntent to its order, under the order's row lock.

    Idempotent and order-insensitive: a stale or repeated snapshot never moves a final
    order, and money that arrives for an order that can no longer take it is refunded.
    ``note`` (an unsaved timeline entry, e.g. the confirm call that produced ``pi``) is
    written in the same transaction, before whatever the snapshot causes.
    """
    with transaction.atomic():
        order = lock_order(order_id)
        if note is not None:
            note.save(force_insert=True)
        if order.payment_intent_id and pi.id != order.payment_intent_id:
            _handle_foreign_payment_intent(order, pi, cause=cause)
            return order
        if order.payment_intent_id is None:
            order.payment_intent_id = pi.id
            order.save(update_fields=["payment_intent_id"])
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
            transition_locked(
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
        elif pi.status == "canceled" and order.is_pending:
            transition_locked(
                order,
                OrderStatus.CANCELED,
                cause=cause,
                reason=order.status_reason or "The payment was cancelled at Stripe; nothing was charged.",
                details={"payment_intent": pi.id},
            )
            enqueue_outbox(order, OutboxMessage.Kind.CANCELED_EMAIL)
        elif pi.declined and order.is_pending:
            transition_locked(
                order,
                OrderStatus.PAYMENT_FAILED,
                cause=cause,
                reason=pi.last_error_message or "Your card was declined.",
                details={"payment_intent": pi.id, "code": pi.last_error_code},
            )
            enqueue_outbox(order, OutboxMessage.Kind.PAYMENT_FAILED_EMAIL)
            # Close the PaymentIntent so that it can never succeed later.
            enqueue_outbox(
                order,
                OutboxMessage.Kind.CANCEL_PAYMENT_INTENT,
                discriminator=pi.id,
                payload={"payment_intent_id": pi.id},
            )
        elif pi.status == "requires_action" and order.status == OrderStatus.PAYMENT_STARTING:
            transition_locked(
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
    elif pi.status in CANCELLABLE_PI_STATUSES:
        enqueue_outbox(
            order,
            OutboxMessage.Kind.CANCEL_PAYMENT_INTENT,
            discriminator=pi.id,
            payload={"payment_intent_id": pi.id},
        )


def _refund_unfulfillable(order: Order, pi: PaymentIntentSnapshot, *, cause: str, reason: str) -> None:
    if order.is_pending:
        transition_locked(order, OrderStatus.CANCELED, cause=cause, reason=reason)
        enqueue_outbox(order, OutboxMessage.Kind.CANCELED_EMAIL)
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


def record_refund(
    order_id: int, *, payment_intent_id: str, refunded_total: int, refund_id: str, cause: str
) -> Order:
    """Book what Stripe has refunded of a PaymentIntent, as a running total.

    Booking Stripe's total (not adding each refund) makes this idempotent whichever path
    reports a refund first: the outbox that made it, a retry whose reply was lost, or the
    ``charge.refunded`` webhook. A full refund of a paid order makes it REFUNDED.
    """
    with transaction.atomic():
        order = lock_order(order_id)
        if payment_intent_id != order.payment_intent_id:
            record_event(
                order,
                kind=OrderEvent.Kind.STRIPE,
                cause=cause,
                message=f"Refunded {refunded_total} {order.currency} of {payment_intent_id} (not this order's payment).",
                details={"refund": refund_id, "payment_intent": payment_intent_id, "refunded_total": refunded_total},
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
            details={"refund": refund_id, "payment_intent": payment_intent_id, "amount": added, "refunded_total": booked},
        )
        if order.status == OrderStatus.PAID and order.refunded_amount >= order.total_amount:
            transition_locked(order, OrderStatus.REFUNDED, cause=cause, reason="Refunded in full.")
            enqueue_outbox(order, OutboxMessage.Kind.REFUNDED_EMAIL)
        return order


def give_up_window_passed(order: Order) -> bool:
    return clock.now() >= order.created_at + policy("GIVE_UP_AFTER")


def unwind_order(order_id: int, *, cause: str, reason: str, actor=None, lease_token: str | None = None) -> Order:
    """Cancel an unpaid order: close its PaymentIntent at Stripe, release stock, tell the customer.

    If Stripe says the payment succeeded after all, the order is paid instead: money that
    came in for a still-fulfillable order is kept and the order completed.
    """
    token = claim_lease(order_id, token=lease_token)
    if token is None:
        return Order.objects.get(pk=order_id)
    try:
        order = Order.objects.get(pk=order_id)
        if not order.is_pending:
            return order
        if order.payment_intent_id is None:
            # We never confirm a PaymentIntent that is not on our row, so nothing was charged.
            with transaction.atomic():
                order = lock_order(order_id)
                if order.is_pending and order.payment_intent_id is None:
                    transition_locked(order, OrderStatus.CANCELED, cause=cause, reason=reason, actor=actor)
                    enqueue_outbox(order, OutboxMessage.Kind.CANCELED_EMAIL)
                if not order.is_pending or order.payment_intent_id is None:
                    return order
        pi = gateway.retrieve_payment_intent(order.payment_intent_id)
        if pi.status in CANCELLABLE_PI_STATUSES:
            try:
                pi = gateway.cancel_payment_intent(
                    payment_intent_id=pi.id, idempotency_key=f"{order.idempotency_key}:cancel"
                )
                _record_stripe_call(order_id, "PaymentIntent cancelled", cause=cause, details={"payment_intent": pi.id})
            except RequestRejected:
                pi = gateway.retrieve_payment_intent(pi.id)
        if pi.status == "canceled":
            with transaction.atomic():
                order = lock_order(order_id)
                if order.is_pending:
                    transition_locked(
                        order, OrderStatus.CANCELED, cause=cause, reason=reason, actor=actor,
                        details={"payment_intent": pi.id},
                    )
                    enqueue_outbox(order, OutboxMessage.Kind.CANCELED_EMAIL)
                return order
        order = apply_payment_intent(order_id, pi, cause=cause)
        if order.is_pending:
            note_attempt_failed(order_id, f"PaymentIntent is {pi.status}; cannot cancel yet", cause=cause)
        return order
    except (OutcomeUnknown, RequestRejected) as exc:
        # RequestRejected: Stripe does not know the PaymentIntent (wrong account or key?).
        # Keep the order pending for staff to see rather than guess what happened.
        note_attempt_failed(order_id, f"{type(exc).__name__}: {exc}", cause=cause)
    except DatabaseError as exc:
        note_attempt_failed(order_id, f"database error: {exc}", cause=cause)
    finally:
        release_lease(order_id, token)
    return Order.objects.get(pk=order_id)


def retry_delay(attempts: int) -> timedelta:
    return min(policy("RETRY_BASE") * (2 ** min(max(attempts - 1, 0), 16)), policy("RETRY_MAX"))


def client_secret_for(order: Order) -> str:
    """The PaymentIntent's client secret, needed by Stripe.js to run 3-D Secure; "" if unknown."""
    if order.status != OrderStatus.REQUIRES_ACTION or not order.payment_intent_id:
        return ""
    try:
        return gateway.retrieve_payment_intent(order.payment_intent_id).client_secret
    except (OutcomeUnknown, RequestRejected):
        return ""
