"""Reads for the customer's pages: their order (by its secret token) and what to tell them."""

from django.shortcuts import get_object_or_404

import stripe_gateway
from orders.models import Order, OrderStatus
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


# Reasons written by our own code that are meant for staff, not for the customer's page.
_STAFF_ONLY_REASON_PREFIXES = ("Stripe refused", "Stripe took", "Cancelled by support")


def failure_reason_for_customer(order: Order) -> str:
    """Why the payment failed, in words fit for the customer (Stripe's decline text or ours)."""
    reason = order.status_reason.strip()
    if not reason or reason.startswith(_STAFF_ONLY_REASON_PREFIXES):
        return "Your card was declined or its details were refused."
    return reason


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
