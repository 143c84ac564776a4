"""The checkout and order pages through Django's test client, against localstripe."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client

from orders.models import Order, OrderStatus
from orders.payment.driver import drive_payment
from orders.selectors import client_secret_for
from orders.support import actions as support
from tests.conftest import CARD_3DS, CARD_DECLINED, CARD_OK
from tests.orders.pages import messages_of, pay, signature_on, token_on
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)

PI_READ = "/v1/payment_intents/"


def test_checkout_page_shows_the_cart_and_asks_for_no_card_number(shopper, stripe_api):
    page = shopper.get("/checkout/").content.decode()
    assert "2 × Enamel mug" in page and "Pay €36.00" in page
    assert settings.STRIPE_JS_URL in page
    assert 'name="payment_method_id" value=""' in page
    # Card details live in Stripe's element: no field of ours could carry a card number.
    assert not re.search(r'name="(card|number|cvc|exp)', page)


def test_checkout_with_an_empty_cart_sends_back_to_the_cart(client):
    response = client.get("/checkout/")
    assert response.status_code == 302 and response.url == "/cart/"
    assert messages_of(response) == ["Your cart is empty."]


def test_paying_leads_to_the_order_page_by_its_secret_token_and_empties_the_cart(
    shopper, stripe_api, mug
):
    response = pay(shopper, stripe_api)

    order = Order.objects.get()
    assert response.status_code == 302
    assert response.url == f"/orders/{order.public_token}/"
    assert str(order.pk) not in response.url.split("/")
    assert order.status == OrderStatus.PAID and order.total_amount == 3600
    assert shopper.session["cart"] == {}
    page = shopper.get(response.url).content.decode()
    assert "Thank you" in page and "2 × Enamel mug" in page and order.reference in page
    assert "Payment failed" not in page


def test_double_submit_of_the_same_form_makes_one_order_and_one_payment_intent(
    shopper, stripe_api, mug
):
    first = pay(shopper, stripe_api)
    second = pay(shopper, stripe_api)  # a double click, or the browser re-posting on reload

    assert first.url == second.url
    assert Order.objects.count() == 1
    assert len(stripe_api.payment_intents()) == 1
    mug.refresh_from_db()
    assert mug.stock == 3
    assert len(mail.outbox) == 1


def test_same_form_in_a_second_tab_after_the_cart_was_refilled_still_leads_to_the_first_order(
    shopper, stripe_api, mug
):
    first = pay(shopper, stripe_api)
    shopper.post("/cart/add/", {"product_id": mug.pk, "quantity": "1"})

    second = pay(shopper, stripe_api, email="other@example.com")

    assert second.url == first.url
    assert Order.objects.count() == 1 and len(stripe_api.payment_intents()) == 1
    assert shopper.session["cart"] == {str(mug.pk): 1}  # the new cart is left alone


def test_two_simultaneous_submits_of_one_form_charge_once(shopper, stripe_api, mug):
    pm = stripe_api.payment_method(CARD_OK)
    session_cookie = shopper.cookies[settings.SESSION_COOKIE_NAME].value

    def tab():
        """A second browser tab: the same session, its own client."""
        browser = Client()
        browser.cookies[settings.SESSION_COOKIE_NAME] = session_cookie

        def submit():
            response = pay(
                browser, stripe_api, token=shopper.token, pm=pm, signature=shopper.signature
            )
            return response.url

        return submit

    urls = run_together(tab(), tab())  # raises if either submit raised

    order = Order.objects.get()
    assert urls == [order.get_absolute_url()] * 2
    assert [pi["id"] for pi in stripe_api.payment_intents()] == [order.payment_intent_id]
    mug.refresh_from_db()
    assert mug.stock == 3


@pytest.mark.parametrize("token", ["x" * 32, "", "short", "bad token with spaces!!", "x" * 65])
def test_a_checkout_token_this_session_was_not_given_is_refused_and_charges_nothing(
    shopper, stripe_api, token
):
    response = shopper.post(
        "/checkout/",
        {
            "email": "ann@example.com",
            "payment_method_id": stripe_api.payment_method(),
            "checkout_token": token,
        },
    )

    assert response.status_code == 302 and response.url == "/checkout/"
    assert messages_of(response) == [
        "This checkout form has expired. Nothing was charged; please try again."
    ]
    assert not Order.objects.exists() and stripe_api.payment_intents() == []


def test_another_sessions_token_does_not_open_its_order(shopper, stripe_api):
    pay(shopper, stripe_api)
    stranger = Client()
    stranger.post(
        "/cart/add/", {"product_id": Order.objects.get().lines.get().product_id, "quantity": "1"}
    )
    stranger.get("/checkout/")

    response = pay(stranger, stripe_api, token=shopper.token)

    assert response.url == "/checkout/"
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "not-an-email"}, "Please enter a valid email address"),
        ({"email": ""}, "Please enter your email address."),
        ({"payment_method_id": ""}, "Please enter your card details."),
        ({"payment_method_id": "4242424242424242"}, "Your card details could not be read"),
        ({"payment_method_id": "pm_x y"}, "Your card details could not be read"),
        ({"payment_method_id": "pm_<script>"}, "Your card details could not be read"),
    ],
)
def test_bad_checkout_input_is_shown_on_the_form_and_records_nothing(
    shopper, stripe_api, mug, fields, error
):
    data = {
        "email": "ann@example.com",
        "payment_method_id": "pm_fine",
        "checkout_token": shopper.token,
        "cart_signature": shopper.signature,
    }
    data.update(fields)

    response = shopper.post("/checkout/", data)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert 'name="payment_method_id" value=""' in response.content.decode()
    assert not Order.objects.exists() and stripe_api.payment_intents() == []
    mug.refresh_from_db()
    assert mug.stock == 5 and shopper.session["cart"] == {str(mug.pk): 2}


def test_stock_sold_since_the_cart_was_filled_stops_checkout_and_charges_nothing(
    shopper, stripe_api, mug
):
    mug.stock = 1
    mug.save()

    response = pay(shopper, stripe_api)

    assert response.url == "/cart/"
    assert "Nothing was charged." in messages_of(response)[0]
    assert not Order.objects.exists() and stripe_api.payment_intents() == []
    assert shopper.get("/checkout/").url == "/cart/"  # and the page says why


def test_cart_changed_in_another_tab_since_the_page_was_shown_is_not_charged_blindly(
    shopper, stripe_api, mug, make_product
):
    notebook = make_product(name="Notebook", price=900)
    shopper.post("/cart/add/", {"product_id": notebook.pk, "quantity": "1"})  # in another tab

    response = pay(shopper, stripe_api)

    assert response.status_code == 409
    page = response.content.decode()
    assert "Your cart or its prices changed since this page was opened. Nothing was charged" in page
    assert "Pay €45.00" in page
    assert not Order.objects.exists() and stripe_api.payment_intents() == []

    shopper.signature = signature_on(page)
    assert pay(shopper, stripe_api).status_code == 302
    assert Order.objects.get().total_amount == 4500


def test_price_changed_since_the_page_was_shown_is_not_charged_blindly(shopper, stripe_api, mug):
    mug.price = 1900
    mug.save()

    response = pay(shopper, stripe_api)

    assert response.status_code == 409 and "Pay €38.00" in response.content.decode()
    assert not Order.objects.exists() and stripe_api.payment_intents() == []


def test_declined_card_shows_payment_failed_and_a_way_to_try_again(shopper, stripe_api, mug):
    response = pay(shopper, stripe_api, CARD_DECLINED)
    order = Order.objects.get()

    page = shopper.get(response.url).content.decode()

    assert order.status == OrderStatus.PAYMENT_FAILED
    assert "Payment failed — nothing was charged" in page
    assert "declined" in page
    assert f'action="/orders/{order.public_token}/try-again/"' in page
    assert "data-pending" not in page  # nothing left to wait for


def test_try_again_puts_the_items_back_and_opens_a_fresh_checkout(shopper, stripe_api, mug):
    pay(shopper, stripe_api, CARD_DECLINED)
    failed = Order.objects.get()

    response = shopper.post(f"/orders/{failed.public_token}/try-again/")

    assert response.url == "/checkout/"
    assert shopper.session["cart"] == {str(mug.pk): 2}
    page = shopper.get("/checkout/").content.decode()
    new_token = token_on(page)
    assert new_token != failed.checkout_token
    shopper.token = new_token
    paid_response = pay(shopper, stripe_api, CARD_OK)
    paid = Order.objects.exclude(pk=failed.pk).get()
    assert paid_response.url == paid.get_absolute_url() and paid.status == OrderStatus.PAID
    assert stripe_api.payment_intent(failed.payment_intent_id)["status"] == "canceled"


def pending_with_money_taken(checkout, faults, **kwargs) -> Order:
    """Stripe took the money, the reply was lost and Stripe is unreachable since: pending."""
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout(CARD_OK, **kwargs)
    faults.clear()
    assert order.status == OrderStatus.PAYMENT_STARTING
    return order


def test_pending_order_page_polls_and_never_invites_a_second_payment(client, checkout, faults):
    order = pending_with_money_taken(checkout, faults)

    response = client.get(order.get_absolute_url())

    page = response.content.decode()
    assert "Payment is being confirmed…" in page and "do not need to pay again" in page
    assert (
        "data-pending" in page and f'data-poll-url="/orders/{order.public_token}/status/"' in page
    )
    assert '<meta http-equiv="refresh"' in page  # inside <noscript>, for pages without JS
    for invitation in ("try-again", "Try again", "Pay ", "checkout"):
        assert invitation not in page
    assert response["Cache-Control"] == "no-store, private"


def test_try_again_is_refused_while_the_payment_may_still_succeed(client, checkout, faults, mug):
    order = pending_with_money_taken(checkout, faults, product=mug)

    response = client.post(f"/orders/{order.public_token}/try-again/")

    assert response.url == order.get_absolute_url()
    assert client.session.get("cart", {}) == {}
    assert messages_of(response) == [
        "Your payment is still being confirmed; please do not pay again."
    ]


def test_status_fragment_keeps_polling_while_pending_and_stops_once_paid(client, checkout, faults):
    order = pending_with_money_taken(checkout, faults)
    url = f"/orders/{order.public_token}/status/"

    pending = client.get(url)
    assert (
        pending.status_code == 200 and 'data-state="payment_starting"' in pending.content.decode()
    )

    drive_payment(order.pk, cause="test:behind_its_back")

    final = client.get(url)
    assert final.status_code == 286
    assert "Thank you" in final.content.decode() and 'data-state="paid"' in final.content.decode()


def test_a_poll_of_a_pending_order_reads_only_the_order(shopper, stripe_api, faults):
    """The poller runs every second or so per waiting customer: one query, no session read,
    even with the customer's session cookie (the full page reads the cart size and lines)."""
    from django.test.utils import CaptureQueriesContext

    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    pay(shopper, stripe_api)
    faults.clear()
    order = Order.objects.get()
    assert order.is_pending and shopper.cookies.get("sessionid")
    with CaptureQueriesContext(connection) as captured:
        poll = shopper.get(f"/orders/{order.public_token}/status/")
    assert poll.status_code == 200 and 'data-state="payment_starting"' in poll.content.decode()
    assert [q["sql"].split(" FROM ")[1].split(" ")[0] for q in captured.captured_queries] == [
        '"orders_order"'
    ]

    page = shopper.get(order.get_absolute_url()).content.decode()
    assert "Cart (0)" in page and "2 × Enamel mug" in page


def test_after_an_unusually_long_wait_the_page_says_so_with_a_support_reference(
    client, checkout, faults, clock
):
    order = pending_with_money_taken(checkout, faults)
    assert "taking longer than usual" not in client.get(order.get_absolute_url()).content.decode()

    clock.advance(seconds=settings.PAYMENTS["LONG_WAIT"].total_seconds() + 1)

    page = client.get(order.get_absolute_url()).content.decode()
    assert "This is taking longer than usual." in page
    assert f"support reference <strong>{order.reference}</strong>" in page
    assert "try-again" not in page


def test_three_d_secure_page_hands_the_client_secret_to_stripe_js_and_completes(
    shopper, stripe_api
):
    response = pay(shopper, stripe_api, CARD_3DS)
    order = Order.objects.get()
    assert order.status == OrderStatus.REQUIRES_ACTION

    page = shopper.get(response.url).content.decode()
    assert (
        "Your bank asks you to confirm this payment" in page
        and "Nothing has been charged yet" in page
    )
    assert f'data-client-secret="{client_secret_for(order)}"' in page
    assert "try-again" not in page

    stripe_api.authenticate(order.payment_intent_id, success=True)
    done = shopper.post(f"/orders/{order.public_token}/authenticated/")

    assert done.url == order.get_absolute_url()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_polling_a_three_d_secure_order_costs_no_stripe_call(client, checkout, faults):
    order = checkout(CARD_3DS)
    assert order.status == OrderStatus.REQUIRES_ACTION
    calls_before = len(faults.log)

    response = client.get(f"/orders/{order.public_token}/status/")

    assert response.status_code == 200 and "data-needs-reload" in response.content.decode()
    assert len(faults.log) == calls_before


def test_cancellation_reason_written_by_staff_is_not_shown_to_the_customer(
    client, checkout, faults
):
    # Waiting for 3-D Secure: Stripe tried the card, so the customer is emailed on cancel
    # (an order whose card Stripe never tried gets no email: tests/orders/test_unpaid_emails.py).
    order = checkout(CARD_3DS)
    support.cancel_unpaid_order(order_id=order.pk, actor=None, reason="looks like card testing")

    page = client.get(order.get_absolute_url()).content.decode()

    assert "This order was cancelled" in page and "Nothing was charged." in page
    assert "card testing" not in page
    assert "card testing" not in mail.outbox[-1].body


@pytest.mark.parametrize("suffix", ["", "status/"])
def test_an_order_is_reached_only_by_its_secret_token(client, checkout, suffix):
    order = checkout(CARD_OK)
    guesses = (
        str(order.pk),
        order.reference,
        order.checkout_token,
        order.idempotency_key,
        order.public_token[:-1],
        order.public_token.upper(),
        "x" * 500,
    )
    for guess in guesses:
        assert client.get(f"/orders/{guess}/{suffix}").status_code == 404
    assert client.get(f"/orders/{order.public_token}/{suffix}").status_code in (200, 286)


def test_someone_elses_order_actions_are_404_and_change_nothing(client, checkout):
    order = checkout(CARD_DECLINED)
    for action in ("try-again", "authenticated"):
        assert client.post(f"/orders/{order.pk}/{action}/").status_code == 404
    assert client.session.get("cart", {}) == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/orders/{token}/"),
        ("post", "/orders/{token}/status/"),
        ("get", "/orders/{token}/try-again/"),
        ("get", "/orders/{token}/authenticated/"),
        ("put", "/checkout/"),
    ],
)
def test_wrong_http_methods_are_refused(client, checkout, method, path):
    order = checkout(CARD_OK)
    response = getattr(client, method)(path.format(token=order.public_token))
    assert response.status_code == 405


def test_long_wait_deadline_is_shorter_than_the_give_up_deadline():
    # The page promises the customer "it will go through or be cancelled": keep that true.
    assert settings.PAYMENTS["LONG_WAIT"] < settings.PAYMENTS["GIVE_UP_AFTER"] - timedelta(
        minutes=1
    )


def test_a_checkout_takes_few_statements_in_three_transactions(shopper, stripe_api, monkeypatch):
    """Round trips per checkout (see the checkout benchmark): a regression here costs throughput.

    22 statements: the rate limits' two counts (client and email: one INSERT each for the
    first attempt in a window, ratelimits/cache.py); the session; the form's token; the form's
    shipping methods; the cart's products; step 1 (products, the shipping method with its VAT
    rate, order, stock, line, timeline); a token from the shared Stripe budget before the
    create; the PaymentIntent's id and its timeline entry; a token before the confirm; step 3
    (lock, timeline x2, status, outbox); the session again. Plus, outside the tests, the
    outbox's task (here queued synchronously, so left out).
    """
    from django.test.utils import CaptureQueriesContext

    from stripe_gateway import budget

    queued = []
    monkeypatch.setattr("orders.outbox.store.queue_dispatch", queued.append)
    pm = stripe_api.payment_method(CARD_OK)
    budget.acquire()  # the budget's row exists already (its first use makes it)
    with CaptureQueriesContext(connection) as captured:
        response = pay(shopper, stripe_api, pm=pm)
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert order.status == OrderStatus.PAID
    assert queued == [order.outbox.get().pk]
    sql = [q["sql"] for q in captured.captured_queries]
    statements = [s for s in sql if s not in ("BEGIN", "COMMIT")]
    assert sql.count("BEGIN") == 3, "\n".join(q[:90] for q in sql)
    assert len(statements) <= 22, "\n".join(statements)
    assert sum("stripe_gateway_budget" in s for s in statements) == 2  # one per Stripe call
