"""The Content-Security-Policy header (issue 14: there was none)."""

import re

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_every_page_sends_a_policy_that_allows_only_the_shop_and_stripe(client, make_product):
    product = make_product(slug="mug")
    response = client.get(f"/products/{product.slug}/")
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"] + csp["style-src"]
    assert "https://js.stripe.com" in csp["script-src"]
    assert {"https://js.stripe.com", "https://hooks.stripe.com"} <= set(csp["frame-src"])
    assert "https://api.stripe.com" in csp["connect-src"]


def test_inline_blocks_carry_this_responses_nonce(client, make_product):
    # The checkout page has inline blocks (its script and its form's style).
    product = make_product(slug="mug")
    client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
    response = client.get("/checkout/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])[1]
    html = response.content.decode()
    inline = re.findall(r"<(script|style)(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline, "the page has inline blocks to check"
    for tag, attributes in inline:
        assert f'nonce="{nonce}"' in attributes, f"<{tag}{attributes}> has no nonce"
    assert " style=" not in html and "onsubmit=" not in html


def test_the_stand_ins_origin_is_allowed_only_while_the_shop_talks_to_it(client, settings):
    settings.STRIPE_LOCAL_STAND_IN = True
    settings.STRIPE_JS_URL = "http://127.0.0.1:8421/js.stripe.com/v3/"
    csp = policy(client.get("/"))
    for directive in ("script-src", "connect-src", "frame-src"):
        assert "http://127.0.0.1:8421" in csp[directive]

    with override_settings(STRIPE_LOCAL_STAND_IN=False, STRIPE_JS_URL="https://js.stripe.com/v3/"):
        csp = policy(client.get("/"))
    assert not any("127.0.0.1" in v for values in csp.values() for v in values)
