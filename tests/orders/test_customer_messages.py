"""What the customer is told: emails (plain text and HTML), the order page, decline wording."""

import secrets
from dataclasses import replace

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from orders import declines
from orders.payment.apply import apply_payment_intent
from orders.payment.driver import drive_payment
from orders.support.actions import refund_order
from stripe_gateway import PaymentIntentSnapshot
from tests.conftest import CARD_3DS, CARD_DECLINED, delivery_to, make_shipping

# Emails leave after the commit that justifies them (the outbox): real commits here.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("sam", "sam@example.com", "x", is_staff=True)


@pytest.fixture
def to_amsterdam(delivery):
    """Standard delivery (4.95) to the Netherlands, VAT 21 %, with a second address line."""
    method = make_shipping(countries=("NL",), name="Standard", price=495, vat="0.2100")
    return replace(delivery_to(method), address_line2="3rd floor")


def parts(message) -> tuple[str, str]:
    """The plain-text body and the HTML alternative of an email."""
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return message.body, html


def refund(order, staff, amount):
    refund_order(
        order_id=order.pk,
        amount=amount,
        actor=staff,
        reason="Customer asked",
        restock=False,
        request_token=secrets.token_urlsafe(16),
    )
    order.refresh_from_db()
    return order


def test_the_confirmation_email_has_both_parts_with_lines_address_shipping_vat_and_link(
    checkout, make_product, to_amsterdam
):
    order = checkout(
        product=make_product(name="Enamel mug", price=1800), quantity=2, to=to_amsterdam
    )
    (email,) = mail.outbox
    assert email.subject == f"Thank you for your order {order.reference}"
    link = f"/orders/{order.public_token}/"
    for body in parts(email):
        assert "2 x Enamel mug" in body or "2 × Enamel mug" in body
        assert "€36.00" in body  # the line
        assert "Standard" in body and "€4.95" in body  # shipping
        assert "€40.95" in body  # the total charged
        assert "21" in body and "€7.11" in body  # VAT included
        assert "Keizersgracht 1" in body and "3rd floor" in body
        assert "1015 CJ Amsterdam" in body and "Netherlands" in body
        assert link in body and order.reference in body


def test_a_partial_refund_is_emailed_and_shown_with_what_remains(
    client, checkout, make_product, staff
):
    order = checkout(product=make_product(price=1800))
    mail.outbox.clear()

    order = refund(order, staff, 500)

    assert (order.status, order.refunded_amount) == ("paid", 500)
    (email,) = mail.outbox
    assert email.subject == f"Part of your order {order.reference} was refunded"
    for body in parts(email):
        assert "€5.00" in body  # this refund
        assert "€13.00" in body  # what stays paid
        assert "€18.00" in body
    page = client.get(order.get_absolute_url()).content.decode()
    assert "We received your payment of" not in page
    assert "we refunded" in page and "€5.00" in page and "€13.00" in page
    assert page.count('data-testid="order-refund"') == 1


def test_every_refund_is_emailed_and_the_last_one_says_all_is_refunded(
    client, checkout, make_product, staff
):
    order = checkout(product=make_product(price=1800))
    mail.outbox.clear()
    refund(order, staff, 500)
    order = refund(order, staff, None)  # the rest

    assert (order.status, order.refunded_amount) == ("refunded", 1800)
    partial, full = mail.outbox
    assert partial.subject == f"Part of your order {order.reference} was refunded"
    assert full.subject == f"Your order {order.reference} was refunded"
    for body in parts(full):
        assert "€13.00" in body  # this refund
        assert "€18.00 of €18.00" in body
    page = client.get(order.get_absolute_url()).content.decode()
    assert "This order was refunded" in page
    assert page.count('data-testid="order-refund"') == 2


def test_the_order_page_shows_address_delivery_and_vat(
    client, checkout, make_product, to_amsterdam
):
    order = checkout(product=make_product(price=1800), to=to_amsterdam)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Delivery (Standard)" in page and "€4.95" in page
    assert "Including VAT (21 %)" in page and "€3.98" in page  # 22.95 * .21 / 1.21 = 3.98
    assert "Keizersgracht 1<br>3rd floor<br>1015 CJ Amsterdam<br>Netherlands" in page


# --- Declines in the shop's words ----------------------------------------------------------


def test_a_declined_card_reads_in_the_shops_words_never_the_providers(client, checkout):
    order = checkout(CARD_DECLINED)
    assert order.status == "payment_failed"
    assert order.status_reason  # Stripe's own sentence, for staff
    page = client.get(order.get_absolute_url()).content.decode()
    assert declines.GENERIC in page
    assert order.status_reason not in page
    (email,) = mail.outbox
    for body in parts(email):
        assert "Your bank declined the payment" in body
        assert order.status_reason not in body


def test_insufficient_funds_is_told_as_such_and_stripes_sentence_stays_in_the_timeline(
    client, checkout
):
    order = checkout(CARD_3DS)  # waiting for 3-D Secure: pending, with its PaymentIntent
    raw = "Your card has insufficient funds. (test decline 4)"
    pi = PaymentIntentSnapshot.from_stripe(
        {
            "id": order.payment_intent_id,
            "status": "requires_payment_method",
            "amount": order.total_amount,
            "currency": order.currency,
            "last_payment_error": {
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": raw,
            },
        }
    )
    order = apply_payment_intent(order.pk, pi, cause="webhook:payment_intent.payment_failed")
    assert (order.status, order.decline_code, order.status_reason) == (
        "payment_failed",
        "insufficient_funds",
        raw,
    )
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Your card has insufficient funds for this payment." in page
    assert raw not in page


def test_a_failed_3d_secure_check_is_told_in_the_shops_words(client, checkout, stripe_api):
    order = checkout(CARD_3DS)
    stripe_api.authenticate(order.payment_intent_id, success=False)
    order = drive_payment(order.pk, cause="customer:3ds_complete")
    assert order.decline_code == "payment_intent_authentication_failure"
    page = client.get(order.get_absolute_url()).content.decode()
    assert "The payment was not confirmed with your bank" in page
    assert order.status_reason not in page


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("insufficient_funds", "insufficient funds"),
        ("expired_card", "has expired"),
        ("incorrect_cvc", "security code (CVC)"),
        ("processing_error", "could not process the payment just now"),
        ("authentication_required", "not confirmed with your bank"),
        ("generic_decline", "Your bank declined the payment"),
        ("card_declined", "Your bank declined the payment"),
        # Never reveal these to whoever holds the card (Stripe's advice): a plain decline.
        ("lost_card", "Your bank declined the payment"),
        ("stolen_card", "Your bank declined the payment"),
        ("fraudulent", "Your bank declined the payment"),
        ("a_code_stripe_adds_next_year", "Your bank declined the payment"),
        ("", "Your bank declined the payment"),
    ],
)
def test_stripe_codes_map_to_the_shops_wording(code, words):
    wording = declines.customer_wording(code)
    assert words in wording
    assert "Nothing was charged" in wording


def test_a_refund_not_made_yet_is_shown_as_on_its_way_not_as_a_second_payment(
    client, checkout, make_product, staff, monkeypatch
):
    order = checkout(product=make_product(price=1800))
    monkeypatch.setattr("orders.outbox.store.queue_dispatch", lambda message_id: None)
    order = refund(order, staff, 500)  # queued; the outbox has not made it yet
    assert order.refunded_amount == 0
    page = client.get(order.get_absolute_url()).content.decode()
    assert "A refund of <strong>€5.00</strong> is on its way to your card." in page
    assert "second payment" not in page


def test_the_plain_text_email_shows_names_as_typed_and_the_html_escapes_them(
    checkout, to_amsterdam
):
    checkout(to=replace(to_amsterdam, full_name="Ann O'Brien & Co"))
    text, html = parts(mail.outbox[0])
    assert "Ann O'Brien & Co" in text
    assert "Ann O&#x27;Brien &amp; Co" in html
