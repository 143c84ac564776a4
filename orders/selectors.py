"""Reads for the customer's pages: their order (by its secret token) and what to tell them."""

from django.shortcuts import get_object_or_404

import stripe_gateway
from orders import declines
from orders.models import Order, OrderEvent, OrderStatus
from orders.outbox.store import queued_refund_total
from stripe_gateway import GatewayError


def order_for_customer(public_token: str) -> Order:
    """The order behind an unguessable token, or 404: no other way leads a customer to it."""
    return get_object_or_404(Order, public_token=public_token)


def order_for_checkout_token(checkout_token: str) -> Order | None:
    """The order a checkout form (by its one-time token) already created, if any."""
    return Order.objects.filter(checkout_token=checkout_token).first()


def latest_order_for_checkout_tokens(checkout_tokens: list[str]) -> Order | None:
    """The newest order any of these checkout forms created, if any."""
    return Order.objects.filter(checkout_token__in=checkout_tokens).order_by("-created_at").first()


def failure_reason_for_customer(order: Order) -> str:
    """Why the payment failed, in the shop's words (never the provider's sentence)."""
    if order.decline_code:
        return declines.customer_wording(order.decline_code)
    if order.status_reason.startswith("Stripe refused the payment details"):
        return declines.CARD_DETAILS
    return declines.GENERIC


def refunds_for_customer(order: Order) -> list[dict]:
    """The refunds booked on the order's own payment, oldest first: when and how much."""
    events = order.events.filter(
        kind=OrderEvent.Kind.STRIPE, details__has_keys=["refund", "amount"]
    ).values_list("at", "details")
    return [
        {"at": at, "amount": int(details["amount"])}
        for at, details in events
        if details.get("payment_intent") == order.payment_intent_id
    ]


def own_refund_in_progress(order: Order) -> int:
    """Refunds of the order's own payment (staff, partial or full) not made yet (minor units)."""
    if not order.payment_intent_id:
        return 0
    return queued_refund_total(
        order, payment_intent_id=order.payment_intent_id, include_failed=True
    )


def refund_in_progress(order: Order) -> int:
    """Money taken for this order that a refund has yet to give back (minor units).

    A refund the outbox gave up on counts too: support staff finish it, the customer is owed it.
    """
    return queued_refund_total(order, include_failed=True)


def client_secret_for(order: Order) -> str:
    """The PaymentIntent's client secret, needed by Stripe.js to run 3-D Secure; "" if unknown."""
    if order.status != OrderStatus.REQUIRES_ACTION or not order.payment_intent_id:
        return ""
    try:
        return stripe_gateway.retrieve_payment_intent(order.payment_intent_id).client_secret
    except GatewayError:
        return ""
