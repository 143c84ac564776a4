"""The Content-Security-Policy holds in a real browser and still lets the payment work (issue 14).

Chromium reports every blocked script, style, frame or request as a ``securitypolicyviolation``
event; an init script (exempt from the page's CSP) collects them before the page's own code runs.
"""

import re

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
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
def mug(make_product):
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
