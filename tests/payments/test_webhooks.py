"""Stripe webhooks through dj-stripe: verified, idempotent, order-insensitive, never a crash."""

import time

import pytest
from django.core import mail

from orders.models import Order, OrderEvent, OrderStatus, UnmatchedPaymentEvent
from orders.payment.apply import apply_payment_intent
from orders.state import transition_order
from payments.stand_in import seed_local_account, webhook_url
from tests.conftest import CARD_3DS
from tests.invariants import assert_invariants
from tests.payments.webhook_helpers import deliver, event_for

pytestmark = pytest.mark.django_db(transaction=True)

PI_READ = "/v1/payment_intents/"


def test_succeeded_webhook_completes_a_pending_order_with_one_email(
    client, pending_paid_at_stripe, stripe_api
):
    order = pending_paid_at_stripe
    response = deliver(
        client,
        event_for(stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"),
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.events.filter(
        kind=OrderEvent.Kind.TRANSITION, cause="webhook:payment_intent.succeeded"
    ).exists()
    assert len(mail.outbox) == 1
    assert_invariants(stripe_api)


def test_duplicate_and_replayed_deliveries_are_harmless(client, pending_paid_at_stripe, stripe_api):
    order = pending_paid_at_stripe
    event = event_for(
        stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"
    )
    for _ in range(3):
        assert deliver(client, event).status_code == 200
    replay = event_for(
        stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"
    )
    assert deliver(client, replay).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert (
        order.events.filter(kind=OrderEvent.Kind.TRANSITION, to_status=OrderStatus.PAID).count()
        == 1
    )
    assert len(mail.outbox) == 1


def test_late_requires_action_and_failed_events_never_move_a_paid_order(
    client, checkout, stripe_api
):
    order = checkout()
    assert order.status == OrderStatus.PAID
    stale = {**stripe_api.payment_intent(order.payment_intent_id), "status": "requires_action"}
    failed = {
        **stripe_api.payment_intent(order.payment_intent_id),
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
    }
    assert deliver(client, event_for(stale, "payment_intent.requires_action")).status_code == 200
    assert deliver(client, event_for(failed, "payment_intent.payment_failed")).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert_invariants(stripe_api)


def test_webhook_before_the_customers_own_request_finishes_is_harmless(
    client, checkout, stripe_api, monkeypatch
):
    """The succeeded webhook lands between Stripe's answer and our own apply step."""
    real_apply = apply_payment_intent
    delivered = []

    def webhook_first(order_id, pi, **kwargs):
        if not delivered:
            delivered.append(pi.id)
            deliver(client, event_for(stripe_api.payment_intent(pi.id), "payment_intent.succeeded"))
        return real_apply(order_id, pi, **kwargs)

    monkeypatch.setattr("orders.payment.apply.apply_payment_intent", webhook_first)
    order = checkout()
    assert delivered == [order.payment_intent_id]
    assert order.status == OrderStatus.PAID
    assert len(mail.outbox) == 1
    assert_invariants(stripe_api)


def test_requires_action_webhook_moves_a_starting_order_to_requires_action(
    client, checkout, faults, stripe_api
):
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout(CARD_3DS)
    assert order.status == OrderStatus.PAYMENT_STARTING
    pi = stripe_api.payment_intent(order.payment_intent_id)
    assert deliver(client, event_for(pi, "payment_intent.requires_action")).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.REQUIRES_ACTION


def test_forged_signature_is_refused_and_changes_nothing(
    client, pending_paid_at_stripe, stripe_api
):
    order = pending_paid_at_stripe
    event = event_for(
        stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"
    )
    assert deliver(client, event, secret="whsec_attacker").status_code == 400
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert mail.outbox == []


def test_stale_signature_timestamp_is_refused(client, pending_paid_at_stripe, stripe_api):
    order = pending_paid_at_stripe
    event = event_for(
        stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"
    )
    assert deliver(client, event, timestamp=int(time.time()) - 3600).status_code == 400
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING


def test_missing_signature_and_secret_override_header_are_refused(
    client, pending_paid_at_stripe, stripe_api
):
    endpoint = seed_local_account()
    url = webhook_url(endpoint, "")
    body = '{"id": "evt_x", "livemode": false}'
    assert client.post(url, data=body, content_type="application/json").status_code == 400
    response = client.post(
        url,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=00",
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_attacker",
    )
    assert response.status_code == 400
    assert (
        client.post(
            url.replace(str(endpoint.djstripe_uuid), "00000000-0000-0000-0000-000000000000"),
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE="t=1,v1=00",
        ).status_code
        == 404
    )


def test_event_for_an_unknown_order_is_recorded_for_staff(client, stripe_api):
    stranger = stripe_api.create_payment_intent(
        amount=700,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        metadata={"order_id": "999999", "shop": "someone-else"},
    )
    response = deliver(
        client, event_for(stranger, "payment_intent.succeeded", event_id="evt_unknown_order")
    )
    assert response.status_code == 200
    unmatched = UnmatchedPaymentEvent.objects.get()
    assert unmatched.stripe_id == "evt_unknown_order"
    assert unmatched.details["object_id"] == stranger["id"]


def test_succeeded_webhook_for_a_cancelled_order_refunds_the_money(
    client, checkout, faults, stripe_api
):
    faults.add("lost_request", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    # Our side closed the order (say, the cancel reached Stripe but its reply was lost and
    # the payment was then confirmed elsewhere): the money must go back.
    transition_order(order.pk, OrderStatus.CANCELED, cause="test", reason="closed")
    stripe_api.confirm(order.payment_intent_id)
    pi = stripe_api.payment_intent(order.payment_intent_id)
    assert pi["status"] == "succeeded"
    assert deliver(client, event_for(pi, "payment_intent.succeeded")).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert order.refunded_amount == order.total_amount
    assert sum(r["amount"] for r in stripe_api.refunds(pi["id"])) == order.total_amount
    assert_invariants(stripe_api)


def test_dashboard_refund_webhook_is_booked_on_the_order(client, checkout, stripe_api):
    order = checkout()
    stripe_api.refund(order.payment_intent_id, order.total_amount)
    charge = stripe_api.payment_intent(order.payment_intent_id)["latest_charge"]
    charge = (
        {**charge, "amount_refunded": order.total_amount}
        if isinstance(charge, dict)
        else {
            "id": charge,
            "object": "charge",
            "payment_intent": order.payment_intent_id,
            "amount_refunded": order.total_amount,
        }
    )
    assert deliver(client, event_for(charge, "charge.refunded")).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.refunded_amount == order.total_amount


def test_the_stand_in_delivers_its_own_webhooks_to_the_running_shop(
    live_server, checkout, faults, stripe_api
):
    """End to end: localstripe posts payment_intent.succeeded to our live server by itself."""
    from payments.stand_in import LOCAL_ENDPOINT_ID, register_local_webhook

    register_local_webhook(site_url=live_server.url, api_base=stripe_api.base)
    try:
        faults.add("lost_response", path="/confirm")
        faults.add("timeout", method="GET", path=PI_READ)
        order = checkout()
        assert order.status == OrderStatus.PAYMENT_STARTING
        deadline = time.monotonic() + 15  # localstripe waits ~1 s before it sends
        while time.monotonic() < deadline:
            order.refresh_from_db()
            if order.status == OrderStatus.PAID:
                break
            time.sleep(0.2)
    finally:
        stripe_api.disconnect_webhooks(LOCAL_ENDPOINT_ID)
    assert order.status == OrderStatus.PAID
    assert (
        Order.objects.get(pk=order.pk)
        .events.filter(kind=OrderEvent.Kind.TRANSITION, cause__startswith="webhook:")
        .exists()
    )
