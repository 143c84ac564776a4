"""Every fault on the wire under the stripe SDK, and our own database failing, mid-checkout.

Each leaves the order pending with its PaymentIntent recoverable: never failed while Stripe may
have charged, never a second charge on retry. Then the reconciler (or the customer's own
retry) brings it to its end.
"""

import pytest
from django.core import mail
from django.db import OperationalError

from orders.exceptions import CheckoutNotStarted
from orders.models import Order, OrderStatus
from orders.payment.driver import _confirm
from orders.state import transition_locked
from payments.reconcile import reconcile_pending_orders
from tests.invariants import assert_invariants
from tests.stripe_stand_in import semantics_enabled

pytestmark = pytest.mark.django_db(transaction=True)

PI_READ = "/v1/payment_intents/"


def succeeded(stripe_api):
    return [pi for pi in stripe_api.payment_intents() if pi["status"] == "succeeded"]


def reconcile_after_grace(clock):
    clock.advance(minutes=2)
    return reconcile_pending_orders()


def test_request_lost_before_stripe_on_create_leaves_order_pending_then_reconciler_pays(
    checkout, faults, stripe_api, clock
):
    faults.add("lost_request", path="/v1/payment_intents")
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert order.payment_intent_id is None
    assert stripe_api.payment_intents() == []
    assert "connection reset" in order.last_error

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(succeeded(stripe_api)) == 1
    assert_invariants(stripe_api)


def test_create_succeeded_but_reply_lost_pays_once_and_leaves_no_second_charge(
    checkout, faults, stripe_api, clock
):
    faults.add("lost_response", path="/v1/payment_intents")
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert order.payment_intent_id is None
    # The lost PaymentIntent exists at Stripe, unconfirmed: no money can move through it.
    [lost] = stripe_api.payment_intents()
    assert lost["status"] == "requires_confirmation"

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert [pi["id"] for pi in succeeded(stripe_api)] == [order.payment_intent_id]
    if semantics_enabled():
        # Stripe replays the create's saved answer to the retry with the same key: the lost
        # PaymentIntent is the order's, and no second one is made.
        assert [pi["id"] for pi in stripe_api.payment_intents()] == [lost["id"]]
    else:
        # localstripe ignores the key: the retry made a second one; the lost one stays
        # unconfirmed (no money can move through it).
        assert stripe_api.payment_intent(lost["id"])["status"] == "requires_confirmation"
    assert_invariants(stripe_api)


def test_confirm_lost_before_stripe_is_confirmed_by_the_reconciler(
    checkout, faults, stripe_api, clock
):
    faults.add("lost_request", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "requires_confirmation"

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(mail.outbox) == 1
    assert_invariants(stripe_api)


def test_stripe_succeeded_but_reply_lost_is_pending_then_paid_after_reconcile(
    checkout, faults, stripe_api, clock
):
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "succeeded"
    assert mail.outbox == []

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(stripe_api.payment_intents()) == 1
    assert len(mail.outbox) == 1
    assert_invariants(stripe_api)


def test_reply_lost_then_customer_resubmits_the_same_form_and_is_charged_once(
    checkout, faults, stripe_api, make_product
):
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    product = make_product(stock=3)
    first = checkout(product=product, token="tok-lost-reply-resubmit-0001")
    assert first.status == OrderStatus.PAYMENT_STARTING

    second = checkout(product=product, token="tok-lost-reply-resubmit-0001")
    assert second.pk == first.pk
    assert second.status == OrderStatus.PAID
    assert len(stripe_api.payment_intents()) == 1
    assert faults.calls("/confirm") == 1  # the retry read the truth, it did not confirm again
    product.refresh_from_db()
    assert product.stock == 2
    assert_invariants(stripe_api)


def test_confirm_timing_out_leaves_order_pending_never_failed(checkout, faults, stripe_api, clock):
    faults.add("timeout", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert order.attempts == 1
    assert order.next_attempt_at > clock()

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert_invariants(stripe_api)


@pytest.mark.parametrize("mode", ["http_500", "http_500_after"])
def test_stripe_500_on_confirm_leaves_order_pending_then_it_converges(
    checkout, faults, stripe_api, clock, mode
):
    faults.add(mode, path="/confirm")
    faults.add("http_500", method="GET", path=PI_READ)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(succeeded(stripe_api)) == 1
    assert_invariants(stripe_api)


def test_stripe_succeeded_but_our_database_write_failed_is_paid_after_reconcile(
    checkout, stripe_api, clock, monkeypatch
):
    real = transition_locked
    calls = {"n": 0}

    def failing_once(order, to_status, **kwargs):
        calls["n"] += 1
        if to_status == OrderStatus.PAID and calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(order, to_status, **kwargs)

    monkeypatch.setattr("orders.state.transition_locked", failing_once)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "succeeded"
    assert "database error" in order.last_error
    # The confirm that took the money stays in the story support staff read.
    assert list(
        order.events.filter(message="PaymentIntent confirmed").values_list("cause", flat=True)
    ) == ["checkout"]

    reconcile_after_grace(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(mail.outbox) == 1
    assert_invariants(stripe_api)


def test_database_failing_before_the_order_is_recorded_charges_nothing(
    checkout, stripe_api, monkeypatch
):
    def broken(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(Order.objects, "create", broken)
    with pytest.raises(CheckoutNotStarted):
        checkout()
    assert stripe_api.payment_intents() == []


def test_process_dying_after_the_payment_intent_is_recorded_is_finished_by_the_reconciler(
    checkout, stripe_api, clock, monkeypatch
):
    class Crash(BaseException):
        """The web process died here."""

    def die(*args, **kwargs):
        raise Crash

    real_confirm = _confirm
    monkeypatch.setattr("orders.payment.driver._confirm", die)
    with pytest.raises(Crash):
        checkout()
    monkeypatch.setattr("orders.payment.driver._confirm", real_confirm)
    order = Order.objects.get()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert order.payment_intent_id

    reconcile_after_grace(clock)  # past the dead process's lease, too
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert_invariants(stripe_api)
