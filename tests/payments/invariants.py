"""Invariants I1-I6 of docs/design.md, checked from both sides: our rows and the stand-in's money."""

from collections import defaultdict

from django.conf import settings
from django.core import mail

from orders.models import (
    PENDING_STATUSES,
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxMessage,
)


def _stripe_side(stripe_api):
    money = defaultdict(list)  # order_id -> [(pi, kept amount)]
    for pi in stripe_api.payment_intents():
        if pi.get("metadata", {}).get("shop") != settings.STRIPE_METADATA_TAG:
            continue
        if pi["status"] != "succeeded":
            continue
        refunded = sum(r["amount"] for r in stripe_api.refunds(pi["id"]))
        money[int(pi["metadata"]["order_id"])].append((pi, pi["amount"] - refunded))
    return money


def assert_invariants(stripe_api, *, check_mail: bool = True) -> None:
    money = _stripe_side(stripe_api)
    orders = Order.objects.in_bulk()
    for order_id, pis in money.items():
        kept = [(pi, left) for pi, left in pis if left > 0]
        # I1: at most one succeeded, unrefunded PaymentIntent per order.
        assert len(kept) <= 1, f"I1: order {order_id} charged {len(kept)} times"
        for pi, left in kept:
            order = orders.get(order_id)
            # I2: money kept at Stripe belongs to a paid order.
            assert order is not None, f"I2: {pi['id']} for unknown order {order_id}"
            assert order.status in (OrderStatus.PAID, OrderStatus.REFUNDED), (
                f"I2: {pi['id']} kept {left} but order {order.reference} is {order.status}"
            )
            assert order.payment_intent_id == pi["id"], (
                f"I2: {pi['id']} is not on {order.reference}"
            )
    for order in orders.values():
        if order.status == OrderStatus.PAID:
            # I3: a paid order has its money at Stripe, same amount and currency.
            kept = [
                pi for pi, left in money.get(order.pk, []) if pi["id"] == order.payment_intent_id
            ]
            assert kept, f"I3: paid order {order.reference} has no succeeded PaymentIntent"
            assert kept[0]["amount"] == order.total_amount and kept[0]["currency"] == order.currency
        # I5: exactly one confirmation email per paid order, none for an unpaid one.
        confirmations = order.outbox.filter(
            kind=OutboxMessage.Kind.CONFIRMATION_EMAIL, discriminator=""
        )
        paid_ever = order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)
        assert confirmations.count() == (1 if paid_ever else 0), f"I5: {order.reference}"
        if check_mail:
            sent = [
                m for m in mail.outbox if m.subject == f"Thank you for your order {order.reference}"
            ]
            assert len(sent) == (1 if paid_ever else 0), (
                f"I5: {len(sent)} emails for {order.reference}"
            )
    # I6: every recorded transition is allowed, so no terminal state was ever left.
    for event in OrderEvent.objects.filter(kind=OrderEvent.Kind.TRANSITION).exclude(from_status=""):
        assert event.to_status in TRANSITIONS[event.from_status], (
            f"I6: {event.from_status} -> {event.to_status} on order {event.order_id}"
        )


def assert_converged() -> None:
    """I4: nothing is left pending."""
    pending = list(
        Order.objects.filter(status__in=PENDING_STATUSES).values_list("reference", "status")
    )
    assert not pending, f"I4: still pending: {pending}"
