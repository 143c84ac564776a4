"""A reconciler converging its batch with several threads keeps every invariant."""

import pytest
from django.conf import settings

from orders.models import Order, OrderStatus
from payments.reconcile import reconcile_pending_orders
from payments.sweeps import STOPPED_RATE_LIMITED, TimeBox
from tests.invariants import assert_invariants
from tests.stripe_stand_in import SlowStripe

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


def test_time_boxed_threaded_runs_under_a_rate_limited_list_converge_every_order_once(
    checkout, faults, clock, stripe_api, stripe_says, stripe_semantics, four_threads, monkeypatch
):
    # A backlog: a third never reached Stripe (create and confirm), the rest were paid at
    # Stripe with the reply lost (read from a list).
    orders = []
    for i in range(12):
        if i % 3 == 0:
            faults.add("lost_request", path="/v1/payment_intents")
        else:
            faults.add("lost_response", path="/confirm")
            faults.add("timeout", method="GET", path="/v1/payment_intents/")
        orders.append(checkout())
    assert {o.status for o in orders} == {OrderStatus.PAYMENT_STARTING}
    clock.advance(minutes=2)
    ids = [o.pk for o in orders]

    def nothing_claimed() -> bool:
        return not Order.objects.filter(pk__in=ids).exclude(lease_token="").exists()

    # Stripe rate-limits all the run sends: the list on each of its tries, and each create
    # the threads send meanwhile for the orders that never reached Stripe (nothing to list).
    # The run ends and gives back what waited on the list; the others wait out a backoff.
    stripe_says.rate_limited(times=3 + 4)
    first = reconcile_pending_orders(batch_size=20, time_box=TimeBox(seconds=60))
    assert first.stopped == STOPPED_RATE_LIMITED and first.released == 8
    assert first.examined == 4 and stripe_says.semantics.plans_left() == 0
    assert not Order.objects.filter(pk__in=ids).exclude(status=OrderStatus.PAYMENT_STARTING)
    assert nothing_claimed()

    # Then Stripe is slow (3 s a call on the shop's clock) and each run has 10 s.
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: SlowStripe(
            stripe_semantics, clock, seconds=3, timeout=settings.STRIPE_TIMEOUT_SECONDS
        ),
    )
    runs = []
    while Order.objects.filter(pk__in=ids, status=OrderStatus.PAYMENT_STARTING).exists():
        assert len(runs) < 20, [r.outcomes for r in runs]
        runs.append(reconcile_pending_orders(batch_size=20, time_box=TimeBox(seconds=10)))
        assert nothing_claimed()
        clock.advance(seconds=30)  # past any backoff a slow call left behind
    assert any(r.partial for r in runs) and len(runs) > 1
    assert Order.objects.filter(pk__in=ids, status=OrderStatus.PAID).count() == 12
    assert_invariants(stripe_api)
