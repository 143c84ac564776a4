"""The Content-Security-Policy holds in a real browser and still lets the payment work (issue 14).

Chromium reports every blocked script, style, frame or request as a ``securitypolicyviolation``
event; an init script (exempt from the page's CSP) collects them before the page's own code runs.
"""

import re
import secrets

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from orders.checkout import LineRequest, place_order
from orders.models import Order, OrderStatus
from orders.permissions import SUPPORT_GROUP
from tests.browser.test_checkout_browser import THANK_YOU, add_to_cart_and_go_to_checkout, pay_with
from tests.conftest import CARD_3DS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


@pytest.fixture
def mug(make_product, delivery):
    return make_product(name="Enamel mug", slug="enamel-mug", price=1800, stock=5)


def test_checkout_with_3d_secure_runs_under_the_csp_without_a_single_violation(
    browser_page, mug, stripe_api
):
    page = browser_page
    page.context.add_init_script(COLLECT_VIOLATIONS)
    add_to_cart_and_go_to_checkout(page, mug)
    assert page.evaluate("typeof Stripe") == "function"  # the stand-in's Stripe.js loaded
    assert violations(page) == []

    pay_with(page, CARD_3DS)
    expect(
        page.get_by_role("heading", name="Your bank asks you to confirm this payment")
    ).to_be_visible()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_role("heading", name=THANK_YOU)).to_be_visible()

    assert Order.objects.get().status == OrderStatus.PAID
    assert violations(page) == []
    assert page.js_errors == []


def test_the_policy_is_enforced_an_injected_inline_script_does_not_run(browser_page, mug):
    page = browser_page
    page.context.add_init_script(COLLECT_VIOLATIONS)
    page.goto(f"/products/{mug.slug}/")
    # What an injection would do: an inline script without this response's nonce.
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injected = true";
          document.body.appendChild(script);
        }"""
    )
    assert page.evaluate("window.__injected === true") is False
    assert any(re.match(r"script-src", v) for v in violations(page))


def test_support_actions_still_ask_before_acting_under_the_csp(
    browser_page, make_product, stripe_api, faults, delivery
):
    """The confirm prompt was an inline onsubmit, which the policy blocks: now a nonced script."""
    faults.add("timeout", path="/confirm")  # the payment's outcome unknown: still pending
    order = place_order(
        lines=[LineRequest(make_product().pk, 1)],
        email="ann@example.com",
        delivery=delivery,
        payment_method_id=stripe_api.payment_method(),
        checkout_token=secrets.token_urlsafe(24),
    )
    faults.clear()
    assert order.is_pending
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user("sam", "sam@example.com", password, is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))

    page = browser_page
    page.context.add_init_script(COLLECT_VIOLATIONS)
    page.goto(f"/admin/login/?next=/admin/orders/order/{order.pk}/change/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    form = page.locator("form.support-action-cancel")
    form.get_by_placeholder("Why (kept in the order's history)").fill("customer asked to cancel")

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    form.locator("input[type=submit]").click()
    page.wait_for_timeout(300)
    assert asked == ["Cancel this order and release its stock?"]
    order.refresh_from_db()
    assert order.is_pending  # dismissed: nothing done

    page.once("dialog", lambda dialog: dialog.accept())
    form.locator("input[type=submit]").click()
    expect(page.locator(".order-status-now")).to_have_text(re.compile("Cancelled"))
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert violations(page) == []
