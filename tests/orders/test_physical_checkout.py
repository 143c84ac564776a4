"""Checkout for physical goods: the delivery form, shipping and VAT, Stripe's ``shipping``."""

import re
from decimal import Decimal

import pytest

from orders.exceptions import ShippingUnavailable
from orders.models import Order, OrderStatus, ShippingMethod
from orders.pricing import quote, vat_included
from tests.conftest import make_shipping
from tests.orders.pages import address, pay


@pytest.fixture
def nl_standard(db):
    """Standard delivery to the Netherlands: 4.95, VAT 21 %."""
    return make_shipping(countries=("NL", "BE"), name="Standard", price=495, vat="0.2100")


@pytest.fixture
def paying_shopper(shopper, nl_standard):
    """The shopper of tests/orders/conftest.py (2 mugs of 18.00) choosing Standard delivery."""
    shopper.shipping_method = nl_standard.pk
    return shopper


# --- VAT and totals, computed on the server --------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "rate", "vat"),
    [
        (12100, "0.2100", 2100),  # exact
        (4095, "0.2100", 711),  # 710.70 -> 711
        (100, "0.2100", 17),  # 17.36 -> 17
        (3, "0.2000", 1),  # 0.5 -> 1: halves go up (bankers' rounding would give 0)
        (15, "0.2000", 3),  # 2.5 -> 3 (bankers': 2)
        (5000, "0", 0),
    ],
)
def test_vat_is_the_part_of_the_gross_at_the_rate_rounded_half_up(gross, rate, vat):
    assert vat_included(gross, Decimal(rate)) == vat


def test_a_quote_adds_shipping_to_the_goods_and_shows_the_vat_they_include(nl_standard):
    figures = quote(goods=3600, currency="eur", country="NL", shipping_method_id=nl_standard.pk)
    assert (figures.goods, figures.shipping, figures.total) == (3600, 495, 4095)
    assert (figures.vat_rate, figures.vat) == (Decimal("0.2100"), 711)
    assert figures.shipping_method_name == "Standard"


def test_shipping_is_free_from_the_owners_threshold(db):
    method = make_shipping(countries=("DE",), price=990, free_over=5000, vat="0.1900")
    below = quote(goods=4999, currency="eur", country="DE", shipping_method_id=method.pk)
    at = quote(goods=5000, currency="eur", country="DE", shipping_method_id=method.pk)
    assert (below.shipping, below.total) == (990, 5989)
    assert (at.shipping, at.total, at.vat) == (0, 5000, 798)  # 5000 * .19 / 1.19 = 798.3


def test_a_method_that_does_not_deliver_to_the_country_is_refused(nl_standard):
    with pytest.raises(ShippingUnavailable):
        quote(goods=3600, currency="eur", country="FR", shipping_method_id=nl_standard.pk)
    nl_standard.is_active = False
    nl_standard.save()
    with pytest.raises(ShippingUnavailable):
        quote(goods=3600, currency="eur", country="NL", shipping_method_id=nl_standard.pk)


def test_a_country_without_a_vat_rate_shows_no_vat(db):
    method = make_shipping(countries=("US",), price=1995)
    figures = quote(goods=3600, currency="eur", country="US", shipping_method_id=method.pk)
    assert (figures.total, figures.vat) == (5595, 0)


# --- The checkout form ---------------------------------------------------------------------


def test_checkout_records_address_shipping_and_vat_and_charges_goods_plus_shipping(
    paying_shopper, stripe_api, mug
):
    response = pay(paying_shopper, stripe_api, address_line2="3rd floor", postal_code=" 1015  cj ")
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert order.status == OrderStatus.PAID
    assert (order.full_name, order.address_line1, order.address_line2) == (
        "Ann Example",
        "Keizersgracht 1",
        "3rd floor",
    )
    assert (order.postal_code, order.city, str(order.country)) == ("1015 CJ", "Amsterdam", "NL")
    assert (order.shipping_method_name, order.shipping_amount) == ("Standard", 495)
    assert (order.total_amount, order.goods_amount) == (4095, 3600)
    assert (order.vat_rate, order.vat_amount) == (Decimal("0.2100"), 711)
    assert [(line.unit_price, line.quantity) for line in order.lines.all()] == [(1800, 2)]
    pi = stripe_api.payment_intent(order.payment_intent_id)
    assert (pi["amount"], pi["status"]) == (4095, "succeeded")


def test_the_payment_intent_carries_the_delivery_as_stripes_shipping(paying_shopper, stripe_api):
    pay(paying_shopper, stripe_api, address_line2="3rd floor")
    order = Order.objects.get()
    # Read back from the stand-in over HTTP: what the shop's create request put there.
    assert stripe_api.payment_intent(order.payment_intent_id)["shipping"] == {
        "name": "Ann Example",
        "address": {
            "line1": "Keizersgracht 1",
            "line2": "3rd floor",
            "city": "Amsterdam",
            "postal_code": "1015 CJ",
            "country": "NL",
        },
    }


def _nothing_happened(stripe_api, mug, stock=5):
    mug.refresh_from_db()
    return Order.objects.count() == 0 and stripe_api.payment_intents() == [] and mug.stock == stock


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"full_name": ""}, "Please enter your full name."),
        ({"full_name": "A"}, "Please enter your full name, as on your door."),
        ({"address_line1": "   "}, "Please enter your address."),
        ({"city": ""}, "Please enter your city."),
        ({"postal_code": ""}, "Please enter your postal code."),
        ({"postal_code": "10<15>"}, "Please enter a valid postal code"),
        ({"address_line1": "Main St\x07 1"}, "Please use only letters, digits and punctuation"),
        ({"address_line2": "x" * 201}, "Your address line 2 is too long"),
        ({"country": ""}, "Please choose the country we deliver to."),
        ({"country": "ZZ"}, "Sorry, we do not deliver to that country."),
        ({"country": "FR"}, "Sorry, we do not deliver to that country."),
        ({"shipping_method": ""}, "Please choose a delivery method."),
        ({"shipping_method": "999999"}, "That delivery method is no longer offered"),
        ({"shipping_method": "abc"}, "That delivery method is no longer offered"),
    ],
)
def test_each_refused_delivery_field_says_why_and_changes_nothing(
    paying_shopper, stripe_api, mug, change, message
):
    response = pay(paying_shopper, stripe_api, **change)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert _nothing_happened(stripe_api, mug)


def test_a_method_for_another_zone_is_refused_and_changes_nothing(paying_shopper, stripe_api, mug):
    germany = make_shipping(countries=("DE",), name="DHL", price=690)
    response = pay(paying_shopper, stripe_api, shipping_method=str(germany.pk), country="NL")
    assert response.status_code == 400
    assert "does not deliver to the country you chose" in response.content.decode()
    assert _nothing_happened(stripe_api, mug)


def test_a_delivery_price_changed_since_the_page_was_shown_is_refused(
    paying_shopper, stripe_api, mug, nl_standard
):
    ShippingMethod.objects.filter(pk=nl_standard.pk).update(price=795)
    response = pay(paying_shopper, stripe_api, shown_total="4095")  # what the page showed
    assert response.status_code == 409
    assert "The delivery price changed" in response.content.decode()
    assert _nothing_happened(stripe_api, mug)
    # The page now shows the new figures, and paying them goes through.
    assert "€43.95" in response.content.decode()
    assert pay(paying_shopper, stripe_api, shown_total="4395").status_code == 302
    assert Order.objects.get().total_amount == 4395


def test_a_returning_tab_finds_what_was_typed(paying_shopper, stripe_api, nl_standard):
    typed = address(nl_standard.pk, full_name="Ann Example", postal_code="!!", country="BE")
    response = paying_shopper.post(
        "/checkout/",
        {**typed, "email": "ann@example.com", "checkout_token": paying_shopper.token},
    )
    assert response.status_code == 400
    page = paying_shopper.get("/checkout/").content.decode()  # the tab comes back later
    assert 'value="Ann Example"' in page
    assert 'value="Keizersgracht 1"' in page
    assert 'value="ann@example.com"' in page
    assert '<option value="BE" selected>' in page
    chosen = rf'id="id_shipping_method_{nl_standard.pk}" value="{nl_standard.pk}"\s+checked'
    assert re.search(chosen, page)


def test_the_checkout_page_offers_the_owners_countries_and_methods_with_prices(
    paying_shopper, nl_standard
):
    make_shipping(countries=("DE",), name="DHL", price=690, free_over=3000)
    page = paying_shopper.get("/checkout/").content.decode()
    assert '<option value="BE">Belgium</option>' in page
    assert '<option value="DE">Germany</option>' in page
    assert "Standard — €4.95" in page
    assert "DHL — free" in page  # 36.00 of goods is over its 30.00 threshold
    assert '<option value="FR">' not in page


def test_the_quote_endpoint_gives_the_servers_figures(paying_shopper, nl_standard):
    answer = paying_shopper.get(
        "/checkout/quote/", {"country": "NL", "shipping_method": nl_standard.pk}
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "total": 4095,
        "shipping": 495,
        "vat": 711,
        "vat_percent": "21",
        "shipping_method": "Standard",
        "display": {"total": "€40.95", "shipping": "€4.95", "vat": "€7.11"},
    }
    refused = paying_shopper.get(
        "/checkout/quote/", {"country": "FR", "shipping_method": nl_standard.pk}
    )
    assert refused.status_code == 400


def test_a_shop_that_ships_to_one_country_chooses_it_for_the_customer(shopper):
    page = shopper.get("/checkout/").content.decode()  # only the Netherlands (``delivery``)
    assert '<option value="NL" selected>Netherlands</option>' in page
