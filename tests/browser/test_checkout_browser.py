"""The customer's checkout in headless Chromium, with localstripe's Stripe.js stand-in."""

import re

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
from orders.payment.converge import converge_order as reconcile_order
from tests.conftest import CARD_3DS, CARD_DECLINED, CARD_OK

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

THANK_YOU = re.compile(r"^Thank you")
FAILED = "Payment failed — nothing was charged"


@pytest.fixture
def mug(make_product, delivery):
    """A product, and free delivery to the Netherlands (``delivery``) to send it with."""
    return make_product(name="Enamel mug", slug="enamel-mug", price=1800, stock=5)


def add_to_cart_and_go_to_checkout(page, product):
    page.goto("/")
    page.get_by_test_id(f"add-{product.slug}").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"Added 1 × {product.name} to your cart.")
    page.get_by_role("link", name="Go to checkout").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()


def fill_card(page, number: str) -> None:
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")  # the stand-in makes it 2034
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("75001")


def address_box(page):
    """The delivery address fieldset (the card box has a postal code of its own)."""
    return page.get_by_role("group", name="Delivery address")


def fill_address(page, country: str = "Netherlands") -> None:
    box = address_box(page)
    box.get_by_label("Full name").fill("Ann Example")
    box.get_by_label("Address", exact=True).fill("Keizersgracht 1")
    box.get_by_label("Postal code").fill("1015 CJ")
    box.get_by_label("City").fill("Amsterdam")
    box.get_by_label("Country").select_option(label=country)


def pay_with(page, number: str, email: str = "ann@example.com") -> None:
    page.get_by_label("Email", exact=True).fill(email)
    fill_address(page)
    fill_card(page, number)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()


def test_customer_adds_to_cart_pays_with_a_test_card_and_sees_thank_you(
    browser_page, mug, stripe_api, live_server
):
    page = browser_page
    posted_to_shop = []
    page.on(
        "request",
        lambda r: (
            posted_to_shop.append(r.post_data or "") if r.url.startswith(live_server.url) else None
        ),
    )
    add_to_cart_and_go_to_checkout(page, mug)
    expect(page.locator("#checkout-total")).to_have_text("€18.00")

    pay_with(page, CARD_OK)

    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()
    order = Order.objects.get()
    assert page.url == live_server.url + order.get_absolute_url()
    assert order.status == OrderStatus.PAID and order.email == "ann@example.com"
    assert [pi["status"] for pi in stripe_api.payment_intents()] == ["succeeded"]
    expect(page.get_by_test_id("order-summary")).to_contain_text("1 × Enamel mug")
    expect(page.get_by_test_id("support-reference")).to_have_text(order.reference)
    expect(page.locator("#cart-link")).to_have_text("Cart (0)")
    # The card number went to the Stripe stand-in only; our server saw a PaymentMethod id.
    assert not any(CARD_OK in body for body in posted_to_shop)
    assert any(order.payment_method_id in body for body in posted_to_shop)
    assert page.js_errors == []


def test_pending_order_page_turns_to_thank_you_by_itself_when_the_order_completes(
    browser_page, checkout, faults, mug
):
    page = browser_page
    faults.add("lost_response", path="/confirm")  # Stripe took the money, the reply was lost...
    faults.add("timeout", method="GET", path="/v1/payment_intents/")  # ...and Stripe is unreachable
    order = checkout(CARD_OK, product=mug)
    faults.clear()
    assert order.status == OrderStatus.PAYMENT_STARTING

    page.goto(order.get_absolute_url())
    expect(page.get_by_role("heading", name="Payment is being confirmed…")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(
        0
    )  # nothing to press, certainly not "pay again"
    page.evaluate("window.notReloaded = true")

    assert reconcile_order(order.pk) == OrderStatus.PAID  # behind the page's back

    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()
    assert page.evaluate("window.notReloaded") is True  # swapped in place by the poller
    assert page.js_errors == []


def test_three_d_secure_completed_in_the_browser_pays_the_order(browser_page, mug, stripe_api):
    page = browser_page
    add_to_cart_and_go_to_checkout(page, mug)

    pay_with(page, CARD_3DS)

    expect(
        page.get_by_role("heading", name="Your bank asks you to confirm this payment")
    ).to_be_visible()
    assert Order.objects.get().status == OrderStatus.REQUIRES_ACTION
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()
    assert Order.objects.get().status == OrderStatus.PAID
    assert [pi["status"] for pi in stripe_api.payment_intents()] == ["succeeded"]


def test_three_d_secure_failed_in_the_browser_charges_nothing(browser_page, mug, stripe_api):
    page = browser_page
    add_to_cart_and_go_to_checkout(page, mug)
    pay_with(page, CARD_3DS)

    page.get_by_role("button", name="Fail authentication").click()

    expect(page.get_by_role("heading", name=FAILED)).to_be_visible()
    order = Order.objects.get()
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] != "succeeded"


def test_declined_card_says_nothing_was_charged_and_trying_again_with_another_card_pays(
    browser_page, mug, stripe_api
):
    page = browser_page
    add_to_cart_and_go_to_checkout(page, mug)
    pay_with(page, CARD_DECLINED)
    expect(page.get_by_role("heading", name=FAILED)).to_be_visible()
    failed = Order.objects.get()

    page.get_by_role("button", name="Try again with another card").click()

    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.locator("#checkout-total")).to_have_text("€18.00")
    pay_with(page, CARD_OK)
    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()
    paid = Order.objects.exclude(pk=failed.pk).get()
    assert paid.status == OrderStatus.PAID
    failed.refresh_from_db()
    assert failed.status == OrderStatus.PAYMENT_FAILED
    statuses = {pi["id"]: pi["status"] for pi in stripe_api.payment_intents()}
    assert statuses == {failed.payment_intent_id: "canceled", paid.payment_intent_id: "succeeded"}
    mug.refresh_from_db()
    assert mug.stock == 4


def test_double_clicking_pay_charges_once(browser_page, mug, stripe_api):
    page = browser_page
    add_to_cart_and_go_to_checkout(page, mug)
    page.get_by_label("Email", exact=True).fill("ann@example.com")
    fill_address(page)
    fill_card(page, CARD_OK)

    page.get_by_role("button", name=re.compile(r"^Pay ")).dblclick()

    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()
    assert Order.objects.count() == 1
    assert len(stripe_api.payment_intents()) == 1


def test_missing_card_or_email_is_reported_on_the_page_and_sends_nothing(
    browser_page, mug, stripe_api
):
    page = browser_page
    add_to_cart_and_go_to_checkout(page, mug)
    pay_button = page.get_by_role("button", name=re.compile(r"^Pay "))

    pay_button.click()
    expect(page.locator("#card-errors")).to_have_text(
        "Please enter a valid email address, like name@example.com."
    )

    page.get_by_label("Email", exact=True).fill("ann@example.com")
    pay_button.click()
    expect(page.locator("#card-errors")).to_have_text("Please fill in full name.")

    fill_address(page)
    pay_button.click()
    expect(page.locator("#card-errors")).to_have_text("Your card number is incomplete.")
    expect(pay_button).to_be_enabled()
    assert not Order.objects.exists() and stripe_api.payment_intents() == []
