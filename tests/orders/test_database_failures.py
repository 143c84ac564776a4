"""What the customer sees when our own database fails in the middle of a checkout.

Whatever page they reach must tell the truth: whether money may have moved, where their
order is, and not to pay again. (Stripe keeps working throughout these tests.)
"""

from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection

from orders.models import Order, OrderStatus
from orders.payment.driver import drive_payment
from tests.conftest import CARD_3DS, CARD_OK
from tests.orders.pages import messages_of, pay

pytestmark = pytest.mark.django_db(transaction=True)

DO_NOT_PAY_AGAIN = "please do not start a new payment"


@contextmanager
def database_fails_after(predicate):
    """Every query fails once ``predicate(sql)`` has matched a query (which itself runs)."""
    seen = {"failing": False}

    def wrapper(execute, sql, params, many, context):
        if seen["failing"]:
            raise OperationalError("server closed the connection unexpectedly")
        result = execute(sql, params, many, context)
        if predicate(sql):
            seen["failing"] = True
        return result

    with connection.execute_wrapper(wrapper):
        yield


def test_checkout_reloaded_while_the_database_fails_goes_to_the_real_order_page(
    shopper, stripe_api
):
    first = pay(shopper, stripe_api, CARD_3DS)  # pending: waiting for the customer's bank
    order = Order.objects.get()
    assert order.status == OrderStatus.REQUIRES_ACTION
    assert first.url == order.get_absolute_url()

    # The reload finds the order, claims it, and then the database goes away.
    with database_fails_after(lambda sql: sql.startswith("UPDATE") and "lease_token" in sql):
        again = pay(shopper, stripe_api, pm=Order.objects.get().payment_method_id)

    assert again.status_code == 302
    assert again.url == order.get_absolute_url()  # the one link to an order that may be charged
    assert shopper.get(again.url).status_code == 200


def test_drive_payment_never_makes_up_an_order_when_the_database_is_gone(checkout, faults):
    faults.add("lost_response", path="/confirm")
    order = checkout(CARD_OK)
    with database_fails_after(lambda sql: True), pytest.raises(OperationalError):
        drive_payment(order.pk, cause="test")


def test_checkout_whose_session_save_fails_says_do_not_pay_again_and_the_next_visit_shows_the_order(
    shopper, stripe_api, monkeypatch
):
    from shop.sessions import SessionStore

    real_instance = SessionStore.create_model_instance
    failed = []

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    def instance_whose_save_fails_once(self, data):
        obj = real_instance(self, data)
        if not failed and data.get("cart") == {}:
            # The order is recorded and paid, the cart emptied; now the database goes away.
            failed.append(True)
            obj.save = database_gone
        return obj

    monkeypatch.setattr(SessionStore, "create_model_instance", instance_whose_save_fails_once)
    shopper.raise_request_exception = False
    response = pay(shopper, stripe_api)
    order = Order.objects.get()
    assert order.status == OrderStatus.PAID  # money moved: the customer must not pay again
    assert response.status_code == 500
    assert DO_NOT_PAY_AGAIN in response.content.decode()

    # Back at the checkout with the cart still full: the shop shows the order, not a new form.
    again = shopper.get("/checkout/")
    assert again.status_code == 302 and again.url == order.get_absolute_url()
    assert any(order.reference in m and "do not pay again" in m for m in messages_of(again))
    cart = shopper.get("/cart/").content.decode()
    assert "Enamel mug" not in cart
    assert Order.objects.count() == 1
