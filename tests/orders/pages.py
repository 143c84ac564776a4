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


def pay(
    client,
    stripe_api,
    card=CARD_OK,
    *,
    token=None,
    email="ann@example.com",
    pm=None,
    signature=None,
    **headers,
):
    return client.post(
        "/checkout/",
        {
            "email": email,
            "payment_method_id": pm or stripe_api.payment_method(card),
            "checkout_token": token or client.token,
            "cart_signature": signature or getattr(client, "signature", ""),
        },
        **headers,
    )
