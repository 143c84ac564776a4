"""The orphan sweep: money at Stripe held against our orders, from Stripe's side."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from orders.models import Order, OrderStatus
from orders.state import transition_order
from payments.audit import audit_payments
from payments.models import AuditCursor
from payments.reconcile import reconcile_pending_orders
from payments.sweeps import STOPPED_RATE_LIMITED, STOPPED_TIME_BOX, TimeBox
from tests.invariants import assert_invariants
from tests.stripe_stand_in import SlowStripe

pytestmark = pytest.mark.django_db(transaction=True)

PI_READ = "/v1/payment_intents/"


def our_metadata(order):
    return {"order_id": str(order.pk), "shop": settings.STRIPE_METADATA_TAG}


def test_a_clean_shop_audits_clean(checkout, stripe_api, capsys):
    checkout()
    call_command("audit_payments")
    assert "0 invariant violations" in capsys.readouterr().out


def test_money_for_an_order_that_lost_track_of_it_is_found_and_attached(
    checkout, faults, stripe_api, clock
):
    # The order never recorded its PaymentIntent, yet one carrying its id was paid.
    faults.add("lost_request", path="/v1/payment_intents")
    order = checkout()
    clock.advance(minutes=2)
    pi = stripe_api.create_payment_intent(
        amount=order.total_amount,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        confirm="true",
        metadata=our_metadata(order),
    )
    report = audit_payments()
    assert [(f.invariant, f.payment_intent) for f in report.broken] == [("I2", pi["id"])]
    with pytest.raises(CommandError):
        call_command("audit_payments")

    call_command("audit_payments", "--fix")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.payment_intent_id == pi["id"]
    assert_invariants(stripe_api)


def test_a_second_charge_for_one_order_is_refunded(checkout, stripe_api):
    order = checkout()
    extra = stripe_api.create_payment_intent(
        amount=order.total_amount,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        confirm="true",
        metadata=our_metadata(order),
    )
    report = audit_payments()
    assert {f.invariant for f in report.broken} == {"I1", "I2"}
    report = audit_payments(fix=True)
    assert not report.broken
    assert sum(r["amount"] for r in stripe_api.refunds(extra["id"])) == extra["amount"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert_invariants(stripe_api, outside_charges=True)  # the second charge was made by this test


def test_money_naming_an_order_we_do_not_have_is_refunded(stripe_api, db, capsys):
    pi = stripe_api.create_payment_intent(
        amount=1234,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        confirm="true",
        metadata={"order_id": "987654", "shop": settings.STRIPE_METADATA_TAG},
    )
    with pytest.raises(CommandError):
        call_command("audit_payments")
    assert "taken for an order we do not have" in capsys.readouterr().out
    call_command("audit_payments", "--fix")
    assert sum(r["amount"] for r in stripe_api.refunds(pi["id"])) == 1234


def test_a_paid_order_without_money_is_reported_and_not_hidden(
    checkout, faults, stripe_api, capsys
):
    faults.add("lost_request", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    transition_order(order.pk, OrderStatus.PAID, cause="test:corruption")
    with pytest.raises(CommandError):
        call_command("audit_payments", "--fix")
    assert "paid order without a succeeded payment" in capsys.readouterr().out


def test_stray_unconfirmed_payment_intents_are_cancelled_by_fix(
    checkout, stripe_says, stripe_api, clock
):
    # Stripe made the PaymentIntent, then answered 500 and saved it under the create key: the
    # next attempt creates another under a new key. (A lost reply no longer leaves a stray:
    # the retry with the same key gets the same PaymentIntent back.)
    stripe_says.server_error(r"/v1/payment_intents$", after_write=True)
    order = checkout()
    clock.advance(minutes=2)

    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    stray = [pi for pi in stripe_api.payment_intents() if pi["id"] != order.payment_intent_id]
    assert [pi["status"] for pi in stray] == ["requires_confirmation"]
    report = audit_payments(fix=True)
    assert [f.invariant for f in report.findings if f.fixed] == ["stray"]
    assert stripe_api.payment_intent(stray[0]["id"])["status"] == "canceled"


def test_audit_json_output_and_bad_arguments(checkout, stripe_api, capsys):
    import json

    checkout()
    call_command("audit_payments", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["broken"] == 0 and data["payment_intents_seen"] == 1
    with pytest.raises(CommandError, match="positive"):
        call_command("audit_payments", "--max-payment-intents", "0")
    assert Order.objects.count() == 1


def test_payment_intent_whose_create_reply_was_lost_is_not_cancelled_as_a_stray(
    checkout, faults, stripe_api, clock
):
    """Found by the chaos run under Stripe's semantics: the audit cancelled the PaymentIntent
    a lost create reply left behind, then the reconciler's create with the same key got it
    back (Stripe replays the saved answer), recorded it, and a good card ended cancelled."""
    faults.add("lost_response", path="/v1/payment_intents")
    order = checkout()
    assert order.payment_intent_id is None
    [pi] = stripe_api.payment_intents()
    clock.advance(minutes=2)  # past the grace period: old enough to look like a stray

    report = audit_payments(fix=True)

    assert stripe_api.payment_intent(pi["id"])["status"] == "requires_confirmation"
    assert not [f for f in report.findings if f.invariant == "stray"]
    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.payment_intent_id == pi["id"]
    assert_invariants(stripe_api)


# --- the window, read in bulk; partial and resumed runs -----------------------------------------

PI_LIST = r"^/v1/payment_intents$"


def paid_orders_one_refunded_unbooked(checkout, stripe_api, count: int):
    """``count`` paid orders; Stripe refunded 500 of the first (a dashboard refund whose
    webhook never came), which the audit must find from Stripe's side."""
    orders = [checkout() for _ in range(count)]
    assert {o.status for o in orders} == {OrderStatus.PAID}
    stripe_api.refund(orders[0].payment_intent_id, 500)
    return orders


def foreign_payment_intents(stripe_api, count: int) -> None:
    """Someone else's PaymentIntents on the account, made after ours (so listed first)."""
    method = stripe_api.payment_method()
    for _ in range(count):
        stripe_api.create_payment_intent(amount=700, currency="eur", payment_method=method)


def test_the_audit_lists_its_window_with_charges_and_makes_no_refunds_call_per_payment(
    checkout, stripe_api, stripe_semantics
):
    orders = paid_orders_one_refunded_unbooked(checkout, stripe_api, 4)
    stripe_semantics.reset()

    report = audit_payments()

    assert [(f.invariant, f.order) for f in report.broken] == [("refunds", orders[0].reference)]
    # One list request for the window (and its charges), nothing one by one.
    assert len(stripe_semantics.seen(PI_LIST, method="GET")) == 1
    assert stripe_semantics.seen(r"^/v1/refunds$", method="GET") == []
    assert stripe_semantics.seen(r"^/v1/payment_intents/", method="GET") == []
    assert report.orders_checked == 4 and not report.partial


def test_a_rate_limit_mid_audit_gives_a_partial_report_and_the_next_run_resumes(
    checkout, stripe_api, stripe_says
):
    orders = paid_orders_one_refunded_unbooked(checkout, stripe_api, 2)
    foreign_payment_intents(stripe_api, 100)  # the whole first page
    stripe_says.rate_limited(method="GET", path=PI_LIST, query="starting_after=")

    first = audit_payments(time_box=TimeBox(seconds=60))

    assert first.partial and first.stopped == STOPPED_RATE_LIMITED
    assert first.payment_intents_seen == 100
    assert not first.broken  # the refunded order is on the page it did not get
    cursor = AuditCursor.objects.get()
    assert cursor.position == first.checked_down_to

    second = audit_payments(time_box=TimeBox(seconds=60))

    assert not second.partial and second.resumed_from == cursor.position
    assert [(f.invariant, f.order) for f in second.broken] == [("refunds", orders[0].reference)]
    assert second.orders_checked == 2
    assert not AuditCursor.objects.exists()  # the walk is done; the next starts a new one


def test_a_time_boxed_audit_stops_after_a_page_and_the_next_run_continues(
    checkout, stripe_api, stripe_semantics, clock, monkeypatch
):
    orders = paid_orders_one_refunded_unbooked(checkout, stripe_api, 2)
    foreign_payment_intents(stripe_api, 100)
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: SlowStripe(
            stripe_semantics, clock, seconds=40, timeout=settings.STRIPE_TIMEOUT_SECONDS
        ),
    )

    first = audit_payments(fix=True, time_box=TimeBox(seconds=30))
    assert first.stopped == STOPPED_TIME_BOX and first.payment_intents_seen == 100

    second = audit_payments(fix=True, time_box=TimeBox(seconds=30))
    assert not second.partial
    assert [(f.invariant, f.fixed) for f in second.findings] == [("refunds", True)]
    orders[0].refresh_from_db()
    assert orders[0].refunded_amount == 500


def test_the_audit_command_prints_a_partial_report_when_stripe_rate_limits_it(
    checkout, stripe_api, stripe_says, capsys
):
    paid_orders_one_refunded_unbooked(checkout, stripe_api, 1)
    foreign_payment_intents(stripe_api, 100)
    stripe_says.rate_limited(method="GET", path=PI_LIST, query="starting_after=")

    with pytest.raises(CommandError) as failed:
        call_command("audit_payments")

    assert failed.value.returncode == 1
    out = capsys.readouterr().out
    assert "Audited 100 PaymentIntents" in out
    assert "PARTIAL: stopped early (Stripe rate-limited it)" in out
