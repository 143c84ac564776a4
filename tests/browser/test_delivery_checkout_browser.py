"""A customer sends goods home: address and delivery method, totals with VAT, at two widths.

Screenshots of each step are written to ``var/screenshots/checkout/`` (see README).
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus, ShippingZone
from tests.browser.test_checkout_browser import (
    THANK_YOU,
    add_to_cart_and_go_to_checkout,
    address_box,
    fill_address,
    fill_card,
)
from tests.conftest import CARD_OK, make_shipping

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "checkout"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def mug(make_product):
    """18.00; Standard (4.95) and Express (9.95) to the Netherlands and Belgium, VAT 21 %."""
    ShippingZone.objects.all().delete()  # only this test's rates
    standard = make_shipping(countries=("NL", "BE"), name="Standard", price=495, vat="0.2100")
    standard.zone.methods.create(name="Express", price=995, position=1)
    make_shipping(countries=("DE",), name="DHL", price=690, vat="0.1900")
    return make_product(name="Enamel mug", slug="enamel-mug", price=1800, stock=5)


def assert_no_horizontal_overflow(page, where: str) -> None:
    wide = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " culprits: Array.from(document.querySelectorAll('body *'))"
        ".filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map(el => el.tagName + (el.id ? '#' + el.id : '') +"
        " (el.className && typeof el.className === 'string' ? '.' + el.className : ''))})"
    )
    assert wide["scroll"] <= wide["inner"], f"{where}: {wide}"


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_checkout_with_address_and_delivery_to_thank_you(browser_page, mug, stripe_api, width):
    page = browser_page
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    add_to_cart_and_go_to_checkout(page, mug)
    expect(page.locator("#checkout-total")).to_have_text("€18.00")  # no destination yet
    assert_no_horizontal_overflow(page, "checkout")

    page.get_by_label("Email", exact=True).fill("ann@example.com")
    fill_address(page, country="Netherlands")
    # Only the methods that deliver to the Netherlands, the first chosen; figures from the server.
    expect(page.get_by_role("radio", name=re.compile(r"^Standard — €4\.95"))).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile(r"^Express — €9\.95"))).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile(r"^DHL"), include_hidden=True)).to_be_hidden()
    expect(page.locator("#checkout-shipping")).to_have_text("€4.95")
    expect(page.locator("#checkout-total")).to_have_text("€22.95")
    expect(page.locator("#checkout-vat")).to_have_text("€3.98")  # 22.95 * 21 / 121

    page.get_by_role("radio", name=re.compile(r"^Express")).check()
    expect(page.locator("#checkout-total")).to_have_text("€27.95")
    expect(page.get_by_role("button", name="Pay €27.95")).to_be_visible()
    fill_card(page, CARD_OK)
    assert_no_horizontal_overflow(page, "checkout, filled")
    shoot(page, f"{width}-1-checkout")

    page.get_by_role("button", name="Pay €27.95").click()

    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()
    order = Order.objects.get()
    assert order.status == OrderStatus.PAID
    assert (order.total_amount, order.shipping_method_name, order.vat_amount) == (
        2795,
        "Express",
        485,  # 27.95 * 21 / 121 = 4.85
    )
    pi = stripe_api.payment_intent(order.payment_intent_id)
    assert pi["amount"] == 2795 and pi["shipping"]["address"]["postal_code"] == "1015 CJ"
    expect(page.get_by_test_id("order-address")).to_contain_text("Keizersgracht 1")
    expect(page.get_by_test_id("order-shipping")).to_have_text("€9.95")
    expect(page.get_by_test_id("order-vat")).to_have_text("€4.85")
    assert_no_horizontal_overflow(page, "thank-you")
    shoot(page, f"{width}-2-thank-you")
    assert page.js_errors == []


def test_refused_address_is_shown_beside_its_field_and_keeps_what_was_typed(
    browser_page, mug, stripe_api
):
    page = browser_page
    add_to_cart_and_go_to_checkout(page, mug)
    page.get_by_label("Email", exact=True).fill("ann@example.com")
    fill_address(page, country="Belgium")
    address_box(page).get_by_label("Postal code").fill(
        "<1000>"
    )  # the browser lets it through; the server not
    fill_card(page, CARD_OK)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()

    expect(page.get_by_role("alert").first).to_contain_text("Nothing was charged")
    postal = address_box(page).get_by_label("Postal code")
    expect(postal).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#postal_code-errors")).to_contain_text("valid postal code")
    expect(address_box(page).get_by_label("Full name")).to_have_value("Ann Example")
    expect(address_box(page).get_by_label("Country")).to_have_value("BE")
    assert not Order.objects.exists() and stripe_api.payment_intents() == []

    page.goto("/")  # leave, and come back later in the same tab
    page.goto("/checkout/")
    expect(address_box(page).get_by_label("Address", exact=True)).to_have_value("Keizersgracht 1")
    expect(address_box(page).get_by_label("Country")).to_have_value("BE")
