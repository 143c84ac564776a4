"""Support staff in a real browser: find the stuck order, reconcile it, see it paid.

Uses ``browser_page`` from tests/browser/conftest.py (headless Debian Chromium, skipped with a
reason when /usr/bin/chromium is missing) against pytest-django's live_server.
"""

import secrets

import pytest
from django.contrib.auth.models import Group, User

from orders.checkout import LineRequest, place_order
from orders.models import Order, OrderStatus
from orders.permissions import SUPPORT_GROUP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def support_login():
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user("sam", "sam@example.com", password, is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    return user.username, password


def test_support_finds_a_stuck_order_reconciles_it_and_sees_it_paid(
    browser_page, support_login, faults, clock, stripe_api, make_product, delivery
):
    page = browser_page
    # The customer paid, but Stripe's reply was lost and Stripe stayed unreachable after it.
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = place_order(
        lines=[LineRequest(make_product().pk, 1)],
        email="worried@example.com",
        delivery=delivery,
        payment_method_id=stripe_api.payment_method(),
        checkout_token=secrets.token_urlsafe(24),
    )
    faults.clear()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "succeeded"
    clock.advance(minutes=3)

    username, password = support_login
    page.goto("/admin/login/?next=/admin/orders/order/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/orders/order/")

    # "I was charged but my order says pending": filter the stuck ones, search by email.
    page.get_by_role("link", name="Pending past the grace period").click()
    page.fill("#searchbar", "worried@example.com")
    page.press("#searchbar", "Enter")
    row = page.locator("#result_list tbody tr")
    assert row.count() == 1
    assert "Payment starting" in row.inner_text()
    row.get_by_role("link", name=order.reference).click()

    page.fill("#id_reconcile-reason", "customer was charged, page says pending")
    page.get_by_role("button", name="Reconcile now").click()
    page.wait_for_selector(".messagelist")
    assert f"Order {order.reference} is now paid." in page.locator(".messagelist").inner_text()
    assert page.locator(".order-status-now").inner_text() == "Paid"
    timeline = page.locator("#timeline").inner_text()
    assert "staff:reconcile" in timeline and username in timeline

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.PAID
    assert len(stripe_api.payment_intents()) == 1
    assert page.js_errors == []


def test_reconcile_now_answers_at_once_and_the_page_refreshes_itself_to_the_outcome(
    browser_page, support_login, faults, clock, stripe_api, make_product, worker_queue, delivery
):
    from playwright.sync_api import expect

    page = browser_page
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = place_order(
        lines=[LineRequest(make_product().pk, 1)],
        email="waiting@example.com",
        delivery=delivery,
        payment_method_id=stripe_api.payment_method(),
        checkout_token=secrets.token_urlsafe(24),
    )
    faults.clear()
    assert order.status == OrderStatus.PAYMENT_STARTING

    username, password = support_login
    page.goto(f"/admin/login/?next=/admin/orders/order/{order.pk}/change/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.fill("#id_reconcile-reason", "customer on the phone")
    page.get_by_role("button", name="Reconcile now").click()
    expect(page.locator(".messagelist")).to_contain_text("it runs in the background")
    expect(page.locator("#reconcile-status")).to_contain_text("Checking with Stripe")
    assert page.locator(".order-status-now").inner_text() == "Payment starting"

    # The worker picks the check up; the page, reloading itself, shows the outcome.
    assert worker_queue() == ["orders.tasks.reconcile_for_support"]
    expect(page.locator("#reconcile-status")).to_contain_text("the order is paid")
    assert page.locator(".order-status-now").inner_text() == "Paid"
    assert 'http-equiv="refresh"' not in page.content()
    assert page.js_errors == []
