"""Reads for the customer's pages."""

from django.conf import settings
from django.shortcuts import get_object_or_404

from orders.models import Order
from shop import clock


def order_for_customer(public_token: str) -> Order:
    """The order behind an unguessable token, or 404: no other way leads a customer to it."""
    return get_object_or_404(Order, public_token=public_token)


def waited_too_long(order: Order) -> bool:
    return order.is_pending and clock.now() - order.created_at > settings.PAYMENTS["LONG_WAIT"]
