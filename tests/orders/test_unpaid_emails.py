"""No email to an address whose card Stripe never tried: card testers name their victims."""

import pytest
from django.core import mail

from orders.checkout import LineRequest, place_order
from orders.models import OrderEvent, OrderStatus, OutboxMessage
from orders.payment.unwind import unwind_order
from tests.conftest import CARD_3DS, CARD_DECLINED
from tests.orders.pages import pay

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_scripted_checkout_with_a_made_up_payment_method_emails_nobody(shopper, stripe_api):
    response = pay(shopper, stripe_api, pm="pm_1MadeUpByACardTester", email="victim@example.com")

    assert response.status_code == 302
    order = shopper.get(response.url).context["order"]
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert mail.outbox == []
    assert not order.charge_attempted
    assert not order.outbox.filter(kind=OutboxMessage.Kind.PAYMENT_FAILED_EMAIL).exists()
    note = order.events.get(kind=OrderEvent.Kind.NOTE)
    assert note.message == "No email sent: Stripe never attempted a charge for this order."


def test_a_card_declined_by_stripe_still_gets_the_payment_failed_email(
    stripe_api, make_product, delivery
):
    order = place_order(
        lines=[LineRequest(make_product().pk, 1)],
        email="ann@example.com",
        delivery=delivery,
        payment_method_id=stripe_api.payment_method(CARD_DECLINED),
        checkout_token="declined-card-token-000001",
    )
    assert order.status == OrderStatus.PAYMENT_FAILED and order.charge_attempted
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


def test_an_abandoned_3ds_payment_cancelled_later_still_gets_the_cancelled_email(
    checkout, stripe_api
):
    order = checkout(CARD_3DS)
    assert order.status == OrderStatus.REQUIRES_ACTION and order.charge_attempted

    order = unwind_order(order.pk, cause="test", reason="Abandoned.")

    assert order.status == OrderStatus.CANCELED
    assert [m.subject for m in mail.outbox] == [f"Your order {order.reference} was cancelled"]
