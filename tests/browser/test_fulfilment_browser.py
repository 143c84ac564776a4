"""Staff ship a paid order from its admin page, on a desktop and on a phone.

Fails if the page is wider than the screen at either width; the screenshots go to
var/screenshots/ (the folder the README names for every browser walk-through).
"""

import secrets
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail

from orders.checkout import LineRequest, place_order
from orders.models import FulfilmentStatus, Order, OrderStatus
from orders.permissions import SUPPORT_GROUP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def assert_no_horizontal_overflow(page, where: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], (
        f"{where}: the page is {widths[0]} px wide on a {widths[1]} px screen"
    )


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_staff_marks_a_paid_order_shipped_in_the_admin(
    browser_page, stripe_api, make_product, delivery, width, height
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    order = place_order(
        lines=[LineRequest(make_product(name="Stoneware mug").pk, 2)],
        email="ann@example.com",
        delivery=delivery,
        payment_method_id=stripe_api.payment_method(),
        checkout_token=secrets.token_urlsafe(24),
    )
    assert order.status == OrderStatus.PAID
    mail.outbox.clear()
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user("sam", "sam@example.com", password, is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))

    page.goto(f"/admin/login/?next=/admin/orders/order/{order.pk}/change/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"**/admin/orders/order/{order.pk}/change/")
    assert_no_horizontal_overflow(page, f"order page at {width} px")

    page.fill("#id_ship-carrier", "DHL")
    page.fill("#id_ship-tracking_reference", "JD014600006281")
    page.get_by_role("button", name="Mark shipped").click()
    page.wait_for_selector(".messagelist")
    message = page.locator(".messagelist").inner_text()
    assert f"Order {order.reference} is shipped (DHL, tracking JD014600006281)" in message
    assert page.locator(".order-fulfilment-now").inner_text() == "shipped"
    timeline = page.locator("#timeline")
    assert "staff:ship" in timeline.inner_text()
    box = timeline.bounding_box()  # under the order, as wide as it (not squeezed beside it)
    assert box["width"] >= page.locator("#content-main").bounding_box()["width"] * 0.9
    assert_no_horizontal_overflow(page, f"order page after shipping at {width} px")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"staff-ship-order-{width}.png"), full_page=True)

    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.fulfilment_status) == (OrderStatus.PAID, FulfilmentStatus.SHIPPED)
    [email] = mail.outbox
    assert "JD014600006281" in email.body

    # The customer's own page says it is on its way, with the tracking reference.
    page.goto(order.get_absolute_url())
    assert page.get_by_test_id("tracking-reference").inner_text() == "JD014600006281"
    assert_no_horizontal_overflow(page, f"customer's order page at {width} px")
    page.screenshot(path=str(SCREENSHOTS / f"customer-order-shipped-{width}.png"), full_page=True)
    assert page.js_errors == []
