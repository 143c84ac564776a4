"""Refunds made outside the shop (the Stripe dashboard) are booked, and never lost for good."""

import pytest
import stripe as stripe_sdk

from orders.models import Order, OrderStatus, OutboxMessage
from payments.audit import audit_payments
from tests.invariants import assert_invariants
from tests.payments.webhook_helpers import deliver, event_for

pytestmark = pytest.mark.django_db(transaction=True)


def charge_refunded_event(stripe_api, order, amount_refunded: int) -> dict:
    charge = stripe_api.payment_intent(order.payment_intent_id)["latest_charge"]
    charge_id = charge["id"] if isinstance(charge, dict) else charge
    charge = {
        "id": charge_id,
        "object": "charge",
        "payment_intent": order.payment_intent_id,
        "amount": order.total_amount,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= order.total_amount,
    }
    return event_for(charge, "charge.refunded")


def test_dashboard_refund_webhook_is_booked_even_when_stripe_cannot_be_read_back(
    client, checkout, stripe_api, monkeypatch
):
    """dj-stripe's own charge handler read the charge back from Stripe inside the webhook's
    transaction: a Stripe that failed then (429, timeout) answered 500 and rolled back our
    booking. The signed event carries the running total; nothing is read back."""
    order = checkout()
    stripe_api.refund(order.payment_intent_id, 700)
    event = charge_refunded_event(stripe_api, order, 700)
    monkeypatch.setattr(stripe_sdk, "api_base", "http://127.0.0.1:9")  # Stripe unreachable now

    response = deliver(client, event)

    assert response.status_code == 200
    order.refresh_from_db()
    assert order.refunded_amount == 700
    assert order.status == OrderStatus.PAID
    assert order.events.filter(cause="webhook:charge.refunded").exists()


def test_dashboard_refund_whose_webhook_never_came_is_found_and_booked_by_the_audit(
    checkout, stripe_api
):
    order = checkout()
    stripe_api.refund(order.payment_intent_id, order.total_amount)  # no webhook reaches us

    report = audit_payments()
    assert [(f.invariant, f.order) for f in report.broken] == [("refunds", order.reference)]
    assert "books 0" in report.broken[0].message

    fixed = audit_payments(fix=True)
    assert [f.invariant for f in fixed.findings if f.fixed] == ["refunds"]
    assert fixed.broken == []
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.refunded_amount == order.total_amount
    assert OutboxMessage.objects.filter(
        order=order, kind=OutboxMessage.Kind.REFUNDED_EMAIL
    ).exists()
    assert audit_payments().broken == []
    assert_invariants(stripe_api)


def test_a_partial_dashboard_refund_is_booked_as_stripes_running_total(checkout, stripe_api):
    order = checkout()
    stripe_api.refund(order.payment_intent_id, 300)
    stripe_api.refund(order.payment_intent_id, 200)

    audit_payments(fix=True)

    order = Order.objects.get(pk=order.pk)
    assert order.refunded_amount == 500
    assert order.status == OrderStatus.PAID
    assert audit_payments().broken == []
