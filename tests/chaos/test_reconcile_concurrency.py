"""A reconciler converging its batch with several threads keeps every invariant."""

import pytest
from django.conf import settings

from orders.models import Order, OrderStatus
from payments.reconcile import reconcile_pending_orders
from tests.invariants import assert_invariants

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def four_threads(monkeypatch):
    monkeypatch.setitem(settings.PAYMENTS, "RECONCILE_CONCURRENCY", 4)


def test_threads_converge_a_batch_whose_confirm_replies_were_lost_each_order_paid_once(
    checkout, faults, clock, stripe_api, four_threads
):
    faults.add("lost_response", path="/confirm", times=6)
    faults.add("timeout", method="GET", path="/v1/payment_intents/", times=6)
    orders = [checkout() for _ in range(6)]
    assert all(order.status == OrderStatus.PAYMENT_STARTING for order in orders)
    clock.advance(minutes=2)

    summary = reconcile_pending_orders(batch_size=10)

    assert summary.outcomes == {OrderStatus.PAID: 6}
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 6
    assert_invariants(stripe_api)
