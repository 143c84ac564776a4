"""The benchmarks' bulk inserts keep up with the orders table (a new NOT NULL column broke them)."""

import pytest

from bench import shopdata
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def test_stale_orders_and_a_backlog_insert_into_todays_orders_table():
    stale = shopdata.make_stale_orders(3, age_minutes=30, with_payment_intent=True)
    backlog = shopdata.make_backlog(10, oldest_minutes=40, newest_minutes=10)

    orders = Order.objects.filter(pk__in=stale + [pk for pk, _, _ in backlog])
    assert orders.count() == 13
    assert set(orders.values_list("status", flat=True)) == {OrderStatus.PAYMENT_STARTING}
    assert not orders.filter(charge_attempted=True).exists()
    # One in ten never reached Stripe: no PaymentIntent to read.
    assert orders.filter(payment_intent_id__isnull=True).count() == 1
