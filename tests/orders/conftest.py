"""Fixtures of the checkout page tests: a product and a customer with it in the cart."""

import pytest

from tests.orders.pages import signature_on, token_on


@pytest.fixture
def mug(make_product):
    return make_product(name="Enamel mug", price=1800, stock=5)


@pytest.fixture
def shopper(client, mug, delivery):
    """A customer with 2 mugs in the cart and the checkout page open (its token issued).

    ``client.shipping_method`` is the (free) delivery method its form chooses by default.
    """
    client.shipping_method = delivery.shipping_method_id
    client.post("/cart/add/", {"product_id": mug.pk, "quantity": "2"})
    response = client.get("/checkout/")
    assert response.status_code == 200
    client.token = token_on(response.content.decode())
    client.signature = signature_on(response.content.decode())
    return client
