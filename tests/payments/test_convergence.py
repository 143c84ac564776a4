"""Issue 3's "done means": break things in the middle of a batch, bring them back, converge.

Checkouts run while the wire to Stripe drops requests and replies, times out and answers 500,
and while our own database writes fail; a customer retry, a webhook and two reconcilers race
on one order. Once faults stop, every order is paid or unwound within the reconciler's
period, I1-I6 hold, and audit_payments exits 0.
"""

import random

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client

from orders.models import Order, OrderStatus
from orders.outbox import dispatch as outbox
from orders.state import transition_locked
from payments.reconcile import reconcile_pending_orders
from tests.invariants import assert_converged, assert_invariants
from tests.payments.webhook_helpers import deliver, event_for
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)

MODES = ["lost_request", "lost_response", "timeout", "http_500", "http_500_after"]


def settle(clock, *, rounds: int = 30) -> None:
    """Let time pass in reconciler periods until nothing is pending (bounded)."""
    for _ in range(rounds):
        clock.advance(minutes=1)
        reconcile_pending_orders()
        outbox.dispatch_due_messages()
        if not Order.objects.filter(
            status__in=[OrderStatus.PAYMENT_STARTING, OrderStatus.REQUIRES_ACTION]
        ).exists():
            break


def test_batch_of_checkouts_through_a_broken_network_and_database_converges(
    checkout, faults, clock, stripe_api, make_product, monkeypatch
):
    rng = random.Random(20261122)
    product = make_product(stock=100)
    real_transition = transition_locked
    db_broken = {"on": False}

    def flaky_transition(order, to_status, **kwargs):
        if db_broken["on"] and rng.random() < 0.5:
            raise OperationalError("terminating connection due to administrator command")
        return real_transition(order, to_status, **kwargs)

    monkeypatch.setattr("orders.state.transition_locked", flaky_transition)
    cards = ["4242424242424242"] * 5 + ["4000000000000341"]
    for i in range(24):
        breaking = 6 <= i < 18
        faults.clear()
        if breaking:
            for path, method in (
                ("/v1/payment_intents", "POST"),
                ("/confirm", "POST"),
                ("/v1/payment_intents/", "GET"),
            ):
                if rng.random() < 0.7:
                    faults.add(rng.choice(MODES), path=path, method=method, times=rng.randint(1, 3))
        db_broken["on"] = breaking and rng.random() < 0.3
        checkout(rng.choice(cards), product=product)
        clock.advance(seconds=5)
    faults.clear()
    db_broken["on"] = False

    pending_before = Order.objects.filter(status=OrderStatus.PAYMENT_STARTING).count()
    assert pending_before > 0, "the faults should have left some orders pending"
    settle(clock)

    assert_converged()
    assert_invariants(stripe_api)
    call_command("audit_payments", "--fix")  # raises CommandError (exit 1) on any violation
    assert (
        Order.objects.filter(status=OrderStatus.PAID).count()
        + Order.objects.filter(
            status__in=[OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELED]
        ).count()
        == 24
    )


@pytest.mark.parametrize("stripe_state", ["succeeded_reply_lost", "confirm_never_sent"])
def test_customer_retry_webhook_and_two_reconcilers_race_on_one_order(
    stripe_state, checkout, faults, clock, stripe_api, make_product
):
    product = make_product(stock=5)
    token = f"tok-race-{stripe_state}-00000000"
    faults.add(
        "lost_response" if stripe_state == "succeeded_reply_lost" else "lost_request",
        path="/confirm",
    )
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = checkout(product=product, token=token)
    assert order.status == OrderStatus.PAYMENT_STARTING
    faults.clear()
    clock.advance(minutes=2)

    def customer_retry():
        checkout(product=product, token=token)

    def webhook():
        for _ in range(50):
            pi = stripe_api.payment_intent(order.payment_intent_id)
            if pi["status"] == "succeeded":
                break
        deliver(Client(), event_for(pi, "payment_intent.succeeded"))

    def reconciler():
        reconcile_pending_orders(record_run=False)

    run_together(customer_retry, webhook, reconciler, reconciler)  # raises if any of them raised
    settle(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Order.objects.count() == 1
    assert [pi["status"] for pi in stripe_api.payment_intents()] == ["succeeded"]
    assert len(mail.outbox) == 1
    product.refresh_from_db()
    assert product.stock == 4
    assert_invariants(stripe_api)
