"""place_order against real PostgreSQL and the localstripe stand-in."""

import pytest
from django.core import mail

from orders.checkout import LineRequest, place_order, record_order
from orders.lease import claim_lease
from orders.models import Order, OrderStatus, OutboxMessage
from orders.payment.driver import drive_payment
from orders.selectors import client_secret_for
from tests.conftest import CARD_3DS, CARD_3DS_DECLINED, CARD_DECLINED
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_card_that_pays_makes_a_paid_order_with_one_confirmation_email(checkout, stripe_api):
    order = checkout()
    assert order.status == OrderStatus.PAID
    pi = stripe_api.payment_intent(order.payment_intent_id)
    assert pi["status"] == "succeeded"
    assert pi["amount"] == order.total_amount
    assert pi["metadata"]["order_id"] == str(order.pk)
    assert [m.subject for m in mail.outbox] == [f"Thank you for your order {order.reference}"]
    assert order.outbox.get().state == OutboxMessage.State.SENT


def test_declined_card_fails_the_order_releases_stock_and_closes_the_payment_intent(
    checkout, make_product, stripe_api
):
    product = make_product(stock=3)
    order = checkout(CARD_DECLINED, product=product, quantity=2)
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert "declined" in order.status_reason
    product.refresh_from_db()
    assert product.stock == 3
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "canceled"
    assert [m.subject for m in mail.outbox] == [
        f"Payment failed for order {order.reference}: nothing was charged"
    ]


def test_three_d_secure_completed_by_customer_makes_the_order_paid(checkout, stripe_api):
    order = checkout(CARD_3DS)
    assert order.status == OrderStatus.REQUIRES_ACTION
    assert client_secret_for(order).startswith(order.payment_intent_id)
    stripe_api.authenticate(order.payment_intent_id, success=True)
    order = drive_payment(order.pk, cause="customer:3ds_complete")
    assert order.status == OrderStatus.PAID
    assert len(mail.outbox) == 1


def test_three_d_secure_failed_by_customer_fails_the_order_and_charges_nothing(
    checkout, stripe_api
):
    order = checkout(CARD_3DS)
    stripe_api.authenticate(order.payment_intent_id, success=False)
    order = drive_payment(order.pk, cause="customer:3ds_complete")
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "canceled"


def test_three_d_secure_passed_but_card_declined_fails_the_order(checkout, stripe_api):
    order = checkout(CARD_3DS_DECLINED)
    assert order.status == OrderStatus.REQUIRES_ACTION
    stripe_api.authenticate(order.payment_intent_id, success=True)
    order = drive_payment(order.pk, cause="customer:3ds_complete")
    assert order.status == OrderStatus.PAYMENT_FAILED


def test_resubmitting_the_same_checkout_token_returns_the_same_order_and_charges_once(
    checkout, stripe_api, make_product
):
    product = make_product(stock=5)
    first = checkout(product=product, token="tok-resubmit-000000000000")
    second = checkout(product=product, token="tok-resubmit-000000000000")
    assert first.pk == second.pk
    assert Order.objects.count() == 1
    assert len(stripe_api.payment_intents()) == 1
    product.refresh_from_db()
    assert product.stock == 4
    assert len(mail.outbox) == 1


def test_two_concurrent_submits_of_one_form_make_one_order_and_one_payment_intent(
    stripe_api, make_product, delivery
):
    product = make_product(stock=5)
    pm = stripe_api.payment_method()

    def submit():
        return place_order(
            lines=[LineRequest(product.pk, 1)],
            email="ann@example.com",
            delivery=delivery,
            payment_method_id=pm,
            checkout_token="tok-concurrent-0000000000",
        )

    results = run_together(submit, submit)  # raises if either submit raised
    assert {order.pk for order in results} == {Order.objects.get().pk}
    order = Order.objects.get()
    pis = stripe_api.payment_intents()
    assert [pi["id"] for pi in pis] == [order.payment_intent_id]
    assert order.status == OrderStatus.PAID
    product.refresh_from_db()
    assert product.stock == 4


def test_out_of_stock_records_nothing(checkout, make_product, stripe_api):
    from orders.exceptions import OutOfStock

    product = make_product(stock=1)
    with pytest.raises(OutOfStock):
        checkout(product=product, quantity=2)
    assert Order.objects.count() == 0
    assert stripe_api.payment_intents() == []
    product.refresh_from_db()
    assert product.stock == 1


def test_resubmitting_a_paid_form_whose_stock_or_cart_is_gone_still_lands_on_its_order(
    checkout, stripe_api, make_product, delivery
):
    from orders.exceptions import EmptyCart

    product = make_product(stock=1)
    first = checkout(product=product, token="tok-resubmit-gone-00000000")
    # The one unit is sold (to this order): the same form again would be out of stock...
    again = checkout(product=product, token="tok-resubmit-gone-00000000")
    assert again.pk == first.pk
    # ...and a resubmit from a tab whose cart is now empty lands on the order too.
    empty = place_order(
        lines=[],
        email="ann@example.com",
        delivery=delivery,
        payment_method_id="pm_x",
        checkout_token="tok-resubmit-gone-00000000",
    )
    assert empty.pk == first.pk
    with pytest.raises(EmptyCart):
        place_order(
            lines=[],
            email="ann@example.com",
            delivery=delivery,
            payment_method_id="pm_x",
            checkout_token="tok-new",
        )
    assert Order.objects.count() == 1
    assert len(stripe_api.payment_intents()) == 1


def test_an_order_that_reached_its_end_holds_no_driver_lease(checkout, stripe_api):
    paid = checkout()
    declined = checkout(CARD_DECLINED)
    for order in (paid, declined):
        order.refresh_from_db()
        assert not order.is_pending
        assert (order.lease_token, order.lease_until) == ("", None)


def test_a_recorded_order_is_leased_to_its_creator_until_it_is_driven(
    make_product, stripe_api, delivery
):
    """Step 1 commits the order already leased: no reconciler can take it before its creator."""
    product = make_product()
    order = record_order(
        lines=[LineRequest(product.pk, 1)],
        email="ann@example.com",
        delivery=delivery,
        payment_method_id=stripe_api.payment_method(),
        checkout_token="tok-leased-0000000000000",
        lease_token="creator",
    )
    assert claim_lease(order.pk) is None  # anyone else is refused
    driven = drive_payment(order.pk, cause="checkout", lease_token="creator", leased_order=order)
    assert driven.status == OrderStatus.PAID
    assert len(stripe_api.payment_intents()) == 1
