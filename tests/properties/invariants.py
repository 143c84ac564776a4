"""Invariants I1-I6 of docs/design.md, checked from both sides after every step of the machine.

"Safe" invariants hold after every step, faults and all; "converged" ones hold once faults have
stopped and time has passed (I4), when nothing may be left in flight.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.core import mail

from catalog.models import Product
from orders.models import (
    PENDING_STATUSES,
    STOCK_RELEASING_STATUSES,
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxMessage,
)

PAID_EVER = (OrderStatus.PAID, OrderStatus.REFUNDED)
# Where a PaymentIntent is still able to take money.
LIVE_PI_STATUSES = ("requires_confirmation", "requires_action", "requires_capture", "processing")


def _reachable() -> dict[str, set[str]]:
    reach = {status: {status} for status in TRANSITIONS}
    changed = True
    while changed:
        changed = False
        for status, targets in reach.items():
            more = set().union(*(TRANSITIONS[t] for t in targets)) - targets
            if more:
                targets |= more
                changed = True
    return reach


REACHABLE = _reachable()


@dataclass
class StripeView:
    """The stand-in's side of the books, read once per check."""

    pis: dict[str, dict] = field(default_factory=dict)  # our PaymentIntents by id
    refunded: dict[str, int] = field(default_factory=dict)  # succeeded PI id -> refunded amount

    @classmethod
    def read(cls, stripe_api) -> "StripeView":
        view = cls()
        for pi in stripe_api.payment_intents():
            if (pi.get("metadata") or {}).get("shop") != settings.STRIPE_METADATA_TAG:
                continue
            view.pis[pi["id"]] = pi
            if pi["status"] == "succeeded":
                refunds = stripe_api.refunds(pi["id"])
                view.refunded[pi["id"]] = sum(
                    r["amount"] for r in refunds if r.get("status") in ("succeeded", "pending")
                )
        return view

    def kept(self, pi_id: str) -> int:
        pi = self.pis[pi_id]
        return pi["amount"] - self.refunded.get(pi_id, 0) if pi["status"] == "succeeded" else 0

    def for_order(self, order_id: int) -> list[dict]:
        return [pi for pi in self.pis.values() if pi["metadata"].get("order_id") == str(order_id)]


def thank_you_emails(order: Order) -> int:
    subject = f"Thank you for your order {order.reference}"
    return sum(1 for message in mail.outbox if message.subject == subject)


def check_safe(
    stripe: StripeView, *, last_status: dict[int, str], initial_stock: dict[int, int]
) -> None:
    """What must hold after every step, whatever is failing."""
    orders = Order.objects.in_bulk()
    outbox = list(OutboxMessage.objects.all())
    refunds_in_flight = {
        m.payload.get("payment_intent_id")
        for m in outbox
        if m.kind == OutboxMessage.Kind.REFUND and m.state == OutboxMessage.State.PENDING
    }

    for pi_id, pi in stripe.pis.items():
        order = orders.get(int(pi["metadata"]["order_id"]))
        assert order is not None, f"I2: {pi_id} ({pi['status']}) names an order we do not have"
        kept = stripe.kept(pi_id)
        own = order.payment_intent_id == pi_id
        if pi["status"] == "succeeded":
            # Only the PaymentIntent on the row is ever confirmed (and only after it is on the row).
            assert own, (
                f"I1: {pi_id} succeeded but order {order.pk} names {order.payment_intent_id}"
            )
        if kept == 0:
            continue
        if own and order.status == OrderStatus.PAID:
            continue
        if own and order.is_pending:
            continue  # in flight: Stripe took it, our row will learn it
        # I2: money kept for an order that cannot keep it must be on its way back.
        assert pi_id in refunds_in_flight, (
            f"I2: {pi_id} keeps {kept} {pi['currency']} but order {order.pk} is {order.status} "
            f"(refunded_amount {order.refunded_amount}) and no refund is in flight"
        )

    # I1: at most one succeeded, unrefunded PaymentIntent per order.
    kept_per_order = Counter(
        pi["metadata"]["order_id"] for pi_id, pi in stripe.pis.items() if stripe.kept(pi_id) > 0
    )
    assert all(n <= 1 for n in kept_per_order.values()), f"I1: {kept_per_order}"

    for order in orders.values():
        pi = stripe.pis.get(order.payment_intent_id or "")
        # I3: a paid order has its money at Stripe, same amount and currency.
        if order.status in PAID_EVER:
            assert pi is not None and pi["status"] == "succeeded", (
                f"I3: order {order.pk} is {order.status} but its PaymentIntent is {pi and pi['status']}"
            )
            assert (pi["amount"], pi["currency"]) == (order.total_amount, order.currency), (
                f"I3: order {order.pk} is for {order.total_amount} {order.currency}, "
                f"its payment for {pi['amount']} {pi['currency']}"
            )
        # The books never claim more refunded than Stripe gave back.
        given_back = stripe.refunded.get(order.payment_intent_id or "", 0)
        assert order.refunded_amount <= given_back, (
            f"books: order {order.pk} says {order.refunded_amount} refunded, Stripe refunded {given_back}"
        )
        if order.status == OrderStatus.REFUNDED:
            assert given_back == order.total_amount, (
                f"I2: order {order.pk} is refunded but Stripe gave back {given_back} of {order.total_amount}"
            )

        # I5: one confirmation email per paid order, none for an unpaid one.
        confirmations = [
            m
            for m in outbox
            if m.order_id == order.pk and m.kind == OutboxMessage.Kind.CONFIRMATION_EMAIL
        ]
        originals = [m for m in confirmations if m.discriminator == ""]
        assert len(originals) == (1 if order.status in PAID_EVER else 0), (
            f"I5: {len(originals)} confirmation messages for {order.status} order {order.pk}"
        )
        sent = sum(1 for m in confirmations if m.state == OutboxMessage.State.SENT)
        assert thank_you_emails(order) == sent, (
            f"I5: {thank_you_emails(order)} confirmation emails sent for order {order.pk}, "
            f"{sent} confirmation messages done"
        )

        # I6: monotonic states; a terminal state is never left, except paid -> refunded.
        before = last_status.get(order.pk, OrderStatus.PAYMENT_STARTING)
        assert order.status in REACHABLE[before], (
            f"I6: order {order.pk} went {before} -> {order.status}"
        )
        last_status[order.pk] = order.status

        # Stock is held by exactly the orders that may still be fulfilled.
        assert order.stock_released == (order.status in STOCK_RELEASING_STATUSES), (
            f"stock: order {order.pk} is {order.status} with stock_released={order.stock_released}"
        )

    for event in OrderEvent.objects.filter(kind=OrderEvent.Kind.TRANSITION).exclude(from_status=""):
        assert event.to_status in TRANSITIONS[event.from_status], (
            f"I6: recorded {event.from_status} -> {event.to_status} on order {event.order_id}"
        )

    held = Counter()
    for order in orders.values():
        if not order.stock_released:
            for line in order.lines.all():
                held[line.product_id] += line.quantity
    for product in Product.objects.all():
        expected = initial_stock[product.pk] - held[product.pk]
        assert product.stock == expected, (
            f"stock: {product.slug} has {product.stock}, expected {expected}"
        )


def check_converged(stripe: StripeView) -> None:
    """I4 and the strict forms of I2-I5: nothing in flight, every promise kept."""
    orders = Order.objects.in_bulk()
    pending = [(o.pk, o.status) for o in orders.values() if o.status in PENDING_STATUSES]
    assert not pending, f"I4: still pending after faults stopped and time passed: {pending}"
    unfinished = list(
        OutboxMessage.objects.exclude(state=OutboxMessage.State.SENT).values_list(
            "order_id", "kind", "state", "last_error"
        )
    )
    assert not unfinished, f"I4: outbox messages not done: {unfinished}"

    for pi_id, pi in stripe.pis.items():
        order = orders[int(pi["metadata"]["order_id"])]
        own = order.payment_intent_id == pi_id
        kept = stripe.kept(pi_id)
        # I2 strict: money kept only for the paid order it belongs to.
        if kept:
            assert own and order.status == OrderStatus.PAID, (
                f"I2: {pi_id} keeps {kept} but order {order.pk} is {order.status}"
            )
        # A closed order's own PaymentIntent can no longer take money.
        if own and order.status not in PAID_EVER:
            assert pi["status"] in ("canceled", "succeeded"), (
                f"I2: order {order.pk} is {order.status} "
                f"but its PaymentIntent {pi_id} is still {pi['status']}"
            )
        # A PaymentIntent not on the row was never confirmed: it may linger unconfirmed, no more.
        if not own:
            assert pi["status"] in (
                "canceled",
                "requires_confirmation",
                "requires_payment_method",
            ) or (pi["status"] == "succeeded" and kept == 0), (
                f"stray {pi_id} for order {order.pk} is {pi['status']}"
            )

    for order in orders.values():
        given_back = stripe.refunded.get(order.payment_intent_id or "", 0)
        assert order.refunded_amount == given_back, (
            f"books: order {order.pk} says {order.refunded_amount} refunded, Stripe refunded {given_back}"
        )
        if order.status == OrderStatus.PAID:
            assert order.refunded_amount < order.total_amount, (
                f"order {order.pk} is refunded in full but still paid"
            )
