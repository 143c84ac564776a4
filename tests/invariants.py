"""Invariants I1-I6 of docs/design.md, checked from both sides: our rows and the stand-in's money.

One checker for the whole suite, at three strengths, each stricter than the one before:

- ``check_safe``: what holds at any moment, faults and all. Money may be in flight: Stripe
  took it and our row has not learnt it yet, or its refund is queued. The property machine
  (tests/properties/machine.py) runs it after every step.
- ``check_settled``: nothing of the money is in flight: money is kept only by the paid order
  it belongs to, and every confirmation message has become one email. The plain tests call
  ``assert_invariants`` (safe, then settled) once the step under test is done.
- ``check_converged``: I4 and the strict forms of I2-I5 (settled included), once faults
  stopped and time passed: nothing pending, nothing left in the outbox, our books equal to
  Stripe's. The machine runs it when faults stop (and ``check_safe`` after it, as after every
  step); ``assert_converged`` is its I4 alone, for a test that reads no Stripe view.
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
    FulfilmentStatus,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxMessage,
)

PAID_EVER = (OrderStatus.PAID, OrderStatus.REFUNDED)


def _reachable() -> dict[str, set[str]]:
    reach = {status: {status} for status in TRANSITIONS}
    changed = True
    while changed:
        changed = False
        for targets in reach.values():
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
                # A refund that failed or was cancelled gave nothing back.
                refunds = stripe_api.refunds(pi["id"])
                view.refunded[pi["id"]] = sum(
                    r["amount"] for r in refunds if r.get("status") in ("succeeded", "pending")
                )
        return view

    def kept(self, pi_id: str) -> int:
        pi = self.pis[pi_id]
        return pi["amount"] - self.refunded.get(pi_id, 0) if pi["status"] == "succeeded" else 0


def thank_you_emails(order: Order) -> int:
    subject = f"Thank you for your order {order.reference}"
    return sum(1 for message in mail.outbox if message.subject == subject)


def _confirmations(outbox: list[OutboxMessage], order: Order) -> list[OutboxMessage]:
    """The order's confirmation messages: the original (discriminator "") and staff resends."""
    return [
        m
        for m in outbox
        if m.order_id == order.pk and m.kind == OutboxMessage.Kind.CONFIRMATION_EMAIL
    ]


def check_safe(
    stripe: StripeView,
    *,
    last_status: dict[int, str] | None = None,
    initial_stock: dict[int, int] | None = None,
    outside_charges: bool = False,
) -> None:
    """What must hold after every step, whatever is failing.

    ``last_status`` (order id -> status at the previous check) is updated in place, so that a
    caller checking after every step sees each move (I6). ``initial_stock`` (product id ->
    stock before any order) adds stock conservation. ``outside_charges``: the test itself
    charged a card at the stand-in for one of our orders (a dashboard charge, a second system),
    so a succeeded PaymentIntent need not be the one on the row; its money must still go back.
    """
    last_status = {} if last_status is None else last_status
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
        if pi["status"] == "succeeded" and not outside_charges:
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
    assert all(n <= 1 for n in kept_per_order.values()), f"I1: charged twice: {kept_per_order}"

    for order in orders.values():
        pi = stripe.pis.get(order.payment_intent_id or "")
        # I3: a paid order has its money at Stripe, same order, amount and currency.
        if order.status in PAID_EVER:
            assert pi is not None and pi["status"] == "succeeded", (
                f"I3: order {order.pk} is {order.status} "
                f"but its PaymentIntent is {pi and pi['status']}"
            )
            assert pi["metadata"]["order_id"] == str(order.pk), (
                f"I3: order {order.pk} is paid by {pi['id']}, "
                f"which names order {pi['metadata']['order_id']}"
            )
            assert (pi["amount"], pi["currency"]) == (order.total_amount, order.currency), (
                f"I3: order {order.pk} is for {order.total_amount} {order.currency}, "
                f"its payment for {pi['amount']} {pi['currency']}"
            )
        # The books never claim more refunded than Stripe gave back.
        given_back = stripe.refunded.get(order.payment_intent_id or "", 0)
        assert order.refunded_amount <= given_back, (
            f"books: order {order.pk} says {order.refunded_amount} refunded, "
            f"Stripe refunded {given_back}"
        )
        if order.status == OrderStatus.REFUNDED:
            assert given_back == order.total_amount, (
                f"I2: order {order.pk} is refunded "
                f"but Stripe gave back {given_back} of {order.total_amount}"
            )

        # I5: one confirmation email per paid order, none for an unpaid one.
        confirmations = _confirmations(outbox, order)
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

        # I7: stock is released exactly for the orders unwound unpaid; a paid (or refunded)
        # order's goods go back only when staff restock them, never more than were sold.
        assert order.stock_released == (order.status in STOCK_RELEASING_STATUSES), (
            f"stock: order {order.pk} is {order.status} with stock_released={order.stock_released}"
        )
        for line in order.lines.all():
            assert 0 <= line.restocked_quantity <= line.quantity, (
                f"I7: line {line.pk} of order {order.pk} restocked {line.restocked_quantity} "
                f"of {line.quantity}"
            )
            assert not line.restocked_quantity or order.status in PAID_EVER, (
                f"I7: order {order.pk} is {order.status} but line {line.pk} was restocked"
            )
        # I7: an order is shipped only once it is paid.
        assert order.fulfilment_status == FulfilmentStatus.UNFULFILLED or (
            order.status in PAID_EVER and order.shipped_at is not None
        ), f"I7: order {order.pk} is {order.status} but its goods are {order.fulfilment_status}"

    # I6: every recorded transition is allowed, so no terminal state was ever left.
    for event in OrderEvent.objects.filter(kind=OrderEvent.Kind.TRANSITION).exclude(from_status=""):
        assert event.to_status in TRANSITIONS[event.from_status], (
            f"I6: recorded {event.from_status} -> {event.to_status} on order {event.order_id}"
        )

    if initial_stock is not None:
        held = Counter()
        for order in orders.values():
            if not order.stock_released:
                for line in order.lines.all():
                    held[line.product_id] += line.quantity - line.restocked_quantity
        for product in Product.objects.all():
            expected = initial_stock[product.pk] - held[product.pk]
            assert product.stock == expected, (
                f"stock: {product.slug} has {product.stock}, expected {expected}"
            )


def check_settled(stripe: StripeView) -> None:
    """Nothing of the money is in flight: what a test may expect once the step it drove is done."""
    orders = Order.objects.in_bulk()
    for pi_id, pi in stripe.pis.items():
        kept = stripe.kept(pi_id)
        if not kept:
            continue
        order = orders.get(int(pi["metadata"]["order_id"]))
        # I2 strict: money kept only by the paid order it belongs to.
        assert order is not None, (
            f"I2: {pi_id} keeps {kept} for order {pi['metadata']['order_id']}, which we do not have"
        )
        assert order.payment_intent_id == pi_id, (
            f"I2: {pi_id} keeps {kept} but order {order.pk} names {order.payment_intent_id}"
        )
        assert order.status == OrderStatus.PAID, (
            f"I2: {pi_id} keeps {kept} but order {order.pk} is {order.status}"
        )

    outbox = list(OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CONFIRMATION_EMAIL))
    for order in orders.values():
        # I5: every confirmation message (the original, staff resends) went out as one email.
        confirmations = _confirmations(outbox, order)
        assert thank_you_emails(order) == len(confirmations), (
            f"I5: {thank_you_emails(order)} confirmation emails for {order.status} order "
            f"{order.pk}, {len(confirmations)} confirmation messages"
        )


def check_nothing_pending() -> None:
    """I4: no order is left pending."""
    pending = list(
        Order.objects.filter(status__in=PENDING_STATUSES).values_list("pk", "reference", "status")
    )
    assert not pending, f"I4: still pending: {pending}"


def check_converged(stripe: StripeView) -> None:
    """I4 and the strict forms of I2-I5: nothing in flight, every promise kept."""
    check_nothing_pending()
    unfinished = list(
        OutboxMessage.objects.exclude(state=OutboxMessage.State.SENT).values_list(
            "order_id", "kind", "state", "last_error"
        )
    )
    assert not unfinished, f"I4: outbox messages not done: {unfinished}"
    check_settled(stripe)

    orders = Order.objects.in_bulk()
    for pi_id, pi in stripe.pis.items():
        order = orders[int(pi["metadata"]["order_id"])]
        own = order.payment_intent_id == pi_id
        kept = stripe.kept(pi_id)
        # A closed order's own PaymentIntent can no longer take money.
        if own and order.status not in PAID_EVER:
            assert pi["status"] in ("canceled", "succeeded"), (
                f"I2: order {order.pk} is {order.status} "
                f"but its PaymentIntent {pi_id} is still {pi['status']}"
            )
        # A PaymentIntent not on the row was never confirmed: it may linger unconfirmed, no more.
        if not own:
            unconfirmed = ("canceled", "requires_confirmation", "requires_payment_method")
            assert pi["status"] in unconfirmed or (pi["status"] == "succeeded" and kept == 0), (
                f"stray {pi_id} for order {order.pk} is {pi['status']}"
            )

    for order in orders.values():
        given_back = stripe.refunded.get(order.payment_intent_id or "", 0)
        assert order.refunded_amount == given_back, (
            f"books: order {order.pk} says {order.refunded_amount} refunded, "
            f"Stripe refunded {given_back}"
        )
        if order.status == OrderStatus.PAID:
            assert order.refunded_amount < order.total_amount, (
                f"order {order.pk} is refunded in full but still paid"
            )


def assert_invariants(stripe_api, *, outside_charges: bool = False) -> None:
    """I1-I6 once the step under test is done: safe, and nothing of the money in flight.

    ``outside_charges``: see ``check_safe``.
    """
    stripe = StripeView.read(stripe_api)
    check_safe(stripe, outside_charges=outside_charges)
    check_settled(stripe)


def assert_converged() -> None:
    """I4: nothing is left pending."""
    check_nothing_pending()
