"""Helpers for driving the checkout pages through Django's test client, like a browser."""

import re

from django.contrib.messages import get_messages

from tests.conftest import CARD_OK


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def token_on(page: str) -> str:
    return re.search(r'name="checkout_token" value="([^"]+)"', page).group(1)


def signature_on(page: str) -> str:
    return re.search(r'name="cart_signature" value="([^"]*)"', page).group(1)


def address(method_id, **overrides) -> dict[str, str]:
    """The delivery fields of a checkout form, filled as a customer in the Netherlands would."""
    fields = {
        "full_name": "Ann Example",
        "address_line1": "Keizersgracht 1",
        "address_line2": "",
        "city": "Amsterdam",
        "postal_code": "1015 CJ",
        "country": "NL",
        "shipping_method": str(method_id),
    }
    fields.update(overrides)
    return fields


def _shipping_method_of(client) -> int:
    """The client's chosen method, else (a second tab, a stranger) the test's newest one."""
    from orders.models import ShippingMethod

    chosen = getattr(client, "shipping_method", None)
    return chosen if chosen is not None else ShippingMethod.objects.latest("pk").pk


def pay(
    client,
    stripe_api,
    card=CARD_OK,
    *,
    token=None,
    email="ann@example.com",
    pm=None,
    signature=None,
    **extra,
):
    """Submit the checkout form; the delivery fields default to ``client.shipping_method``'s.

    ``extra``: delivery fields by name (``city="Ghent"``) and request headers in Django's
    upper-case form (``HTTP_X_REQUEST_ID="..."``).
    """
    headers = {name: value for name, value in extra.items() if name.isupper()}
    delivery = {name: value for name, value in extra.items() if not name.isupper()}
    return client.post(
        "/checkout/",
        {
            "email": email,
            **address(_shipping_method_of(client), **delivery),
            "payment_method_id": pm or stripe_api.payment_method(card),
            "checkout_token": token or client.token,
            "cart_signature": signature or getattr(client, "signature", ""),
        },
        **headers,
    )
