"""Fulfilment and restocking: ship, deliver, goods back in stock (I7), refused when unsafe."""

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse

from orders.exceptions import ActionRefused
from orders.models import FulfilmentStatus, Order, OrderEvent, OrderStatus, OutboxMessage
from orders.support import actions as support
from orders.support import fulfilment
from tests.admin.test_support_actions import act, said, staff_events
from tests.conftest import CARD_3DS, CARD_DECLINED
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(order: Order) -> tuple:
    """Everything a refused action must leave as it was."""
    order = Order.objects.get(pk=order.pk)
    return (
        order.status,
        order.fulfilment_status,
        order.carrier,
        order.tracking_reference,
        order.shipped_at,
        order.delivered_at,
        order.events.count(),
        order.outbox.count(),
        [(line.pk, line.restocked_quantity) for line in order.lines.all()],
        [line.product.stock for line in order.lines.select_related("product")],
    )


def ship(order, *, token="ship-1", carrier="DHL", tracking="JD014600006281", actor=None):
    return fulfilment.ship_order(
        order_id=order.pk,
        actor=actor,
        carrier=carrier,
        tracking_reference=tracking,
        request_token=token,
    )


def refund(order, *, restock: bool, token="refund-1", amount=None):
    return support.refund_order(
        order_id=order.pk,
        amount=amount,
        restock=restock,
        actor=None,
        reason="customer sent it back",
        request_token=token,
    )


def settle(order) -> Order:
    """Run the outbox the way the worker does, and return the order as it is now."""
    from orders.outbox.dispatch import dispatch_due_messages

    dispatch_due_messages()
    return Order.objects.get(pk=order.pk)


# --- Shipping ----------------------------------------------------------------------------------


def test_shipping_a_paid_order_emails_the_customer_its_tracking_after_the_commit(
    support_client, support_user, checkout
):
    order = checkout()
    mail.outbox.clear()  # the confirmation
    with transaction.atomic():
        ship(order, actor=support_user)
        # The email is a promise in the outbox: nothing leaves before the commit.
        assert mail.outbox == []
        assert order.outbox.filter(kind=OutboxMessage.Kind.SHIPPED_EMAIL).count() == 1
    [email] = mail.outbox
    assert email.to == ["ann@example.com"]
    assert email.subject == f"Your order {order.reference} is on its way"
    assert "Carrier: DHL" in email.body and "JD014600006281" in email.body
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and "JD014600006281" in html
    order.refresh_from_db()
    assert (order.status, order.fulfilment_status) == (OrderStatus.PAID, FulfilmentStatus.SHIPPED)
    assert (order.carrier, order.tracking_reference) == ("DHL", "JD014600006281")
    [audit] = staff_events(order, "ship")
    assert audit.actor == support_user and audit.details["tracking_reference"] == "JD014600006281"
    # The payment's state machine did not move.
    assert not order.events.filter(kind=OrderEvent.Kind.TRANSITION, from_status="paid").exists()


def test_shipping_that_rolls_back_sends_no_email(checkout):
    order = checkout()
    mail.outbox.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        ship(order)
        raise RuntimeError("the request failed after the action")
    assert mail.outbox == []
    assert Order.objects.get(pk=order.pk).fulfilment_status == FulfilmentStatus.UNFULFILLED


def test_ship_submitted_twice_ships_once_and_a_second_shipment_is_refused(checkout):
    order = checkout()
    mail.outbox.clear()
    ship(order, token="same")
    ship(order, token="same")  # a double click: the same submission, nothing more
    assert len(mail.outbox) == 1
    before = snapshot(order)
    with pytest.raises(ActionRefused, match="already shipped \\(DHL, tracking JD014600006281\\)"):
        ship(order, token="other", tracking="OTHER")
    assert snapshot(order) == before
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("card", [CARD_3DS, CARD_DECLINED])
def test_ship_and_deliver_are_refused_for_an_unpaid_order_and_change_nothing(checkout, card):
    order = checkout(card)
    assert order.status in (OrderStatus.REQUIRES_ACTION, OrderStatus.PAYMENT_FAILED)
    before = snapshot(order)
    with pytest.raises(ActionRefused, match="Only a paid order can be shipped"):
        ship(order)
    with pytest.raises(ActionRefused, match="Only a paid order can be marked delivered"):
        fulfilment.mark_delivered(order_id=order.pk, actor=None, reason="", request_token="d")
    assert snapshot(order) == before


def test_ship_is_refused_for_a_refunded_order_and_while_a_full_refund_is_queued(
    checkout, faults, clock
):
    order = checkout()
    faults.add("timeout", method="POST", path="/v1/refunds")
    refund(order, restock=False)  # queued; Stripe does not answer yet
    before = snapshot(order)
    with pytest.raises(ActionRefused, match="being refunded in full"):
        ship(order)
    assert snapshot(order) == before
    faults.clear()
    clock.advance(minutes=10)  # past the outbox's retry delay
    order = settle(order)
    assert order.status == OrderStatus.REFUNDED
    before = snapshot(order)
    with pytest.raises(ActionRefused, match="is refunded"):
        ship(order)
    assert snapshot(order) == before


def test_missing_carrier_or_tracking_is_refused_with_a_clear_message(support_client, checkout):
    order = checkout()
    before = snapshot(order)
    response = act(support_client, order, "ship", carrier="DHL", tracking_reference="")
    assert said(response) == ["Mark shipped not done: Tracking reference: This field is required."]
    response = act(support_client, order, "ship", carrier="x" * 65, tracking_reference="T1")
    assert said(response)[0].startswith("Mark shipped not done: Carrier: Ensure this value")
    with pytest.raises(ActionRefused, match="Please give the carrier"):
        ship(order, carrier="   ")
    assert snapshot(order) == before


def test_delivered_only_after_shipped_and_the_customer_sees_both(client, support_client, checkout):
    order = checkout()
    before = snapshot(order)
    response = act(support_client, order, "deliver", reason="")
    assert said(response) == [
        "Mark delivered refused: Only a shipped order can be marked delivered; "
        f"order {order.reference} is not shipped yet."
    ]
    assert snapshot(order) == before

    response = act(support_client, order, "ship", carrier="DHL", tracking_reference="JD42")
    assert said(response) == [
        f"Order {order.reference} is shipped (DHL, tracking JD42); ann@example.com is emailed."
    ]
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-testid="fulfilment-shipped"' in page and "JD42" in page

    response = act(support_client, order, "deliver", token="tok-2", reason="signed for")
    assert said(response) == [f"Order {order.reference} is delivered."]
    order.refresh_from_db()
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    assert order.status == OrderStatus.PAID
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-testid="fulfilment-delivered"' in page and "JD42" in page
    assert [e.cause for e in order.events.filter(kind=OrderEvent.Kind.STAFF)] == [
        "staff:ship",
        "staff:deliver",
    ]


def test_a_shipped_order_refunded_in_full_no_longer_reads_on_its_way(client, checkout):
    order = checkout()
    ship(order)
    page = client.get(order.get_absolute_url()).content.decode()
    assert '<h2 id="delivery-heading">On its way</h2>' in page
    refund(order, restock=False)
    assert settle(order).status == OrderStatus.REFUNDED
    page = client.get(order.get_absolute_url()).content.decode()
    assert '<h2 id="delivery-heading">Shipped</h2>' in page
    assert "On its way" not in page and "JD014600006281" in page


def test_the_support_group_may_ship_and_other_staff_may_not(client, plain_staff, checkout):
    order = checkout()
    client.force_login(plain_staff)
    url = reverse("admin:orders_order_support_action", args=[order.pk, "ship"])
    response = client.post(
        url,
        {"ship-request_token": "t", "ship-carrier": "DHL", "ship-tracking_reference": "JD1"},
    )
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).fulfilment_status == FulfilmentStatus.UNFULFILLED


def test_the_order_page_offers_ship_for_a_paid_order(support_client, checkout):
    order = checkout()
    page = support_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    html = page.content.decode()
    assert 'name="submit-ship"' in html and 'name="ship-tracking_reference"' in html
    assert 'name="refund-restock"' in html


# --- Restocking (I7) ---------------------------------------------------------------------------


def test_full_refund_without_restock_leaves_the_stock_alone(checkout, make_product):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)
    order = settle(refund(order, restock=False).order)
    assert order.status == OrderStatus.REFUNDED
    product.refresh_from_db()
    assert product.stock == 3
    assert [line.restocked_quantity for line in order.lines.all()] == [0]


def test_refund_form_without_the_restock_answer_is_refused_and_changes_nothing(
    support_client, checkout
):
    order = checkout()
    before = snapshot(order)
    response = act(support_client, order, "refund", reason="broken", amount="")
    assert said(response) == [
        "Refund not done: Goods back in stock?: Say whether the goods come back to stock "
        "(yes or no)."
    ]
    response = act(support_client, order, "refund", reason="broken", amount="", restock="maybe")
    assert said(response)[0].startswith("Refund not done: Goods back in stock?: Select a valid")
    assert snapshot(order) == before


def test_refund_with_restock_submitted_twice_at_once_restocks_exactly_once(
    support_client, checkout, make_product
):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)

    def submit(token):
        return lambda: refund(order, restock=True, token=token, amount=500)

    # The same submission twice (double click) and a second tab, all at the same moment.
    run_together(submit("same"), submit("same"), submit("other-tab"), finish_timeout=60)
    product.refresh_from_db()
    assert product.stock == 5  # 3 left + the 2 sold, once
    [line] = Order.objects.get(pk=order.pk).lines.all()
    assert line.restocked_quantity == 2
    restocks = [e.details["restocked"] for e in staff_events(order, "refund")]
    assert sorted(len(moved) for moved in restocks) == [0, 1]
    # And the later staff action finds nothing left to put back.
    with pytest.raises(ActionRefused, match="already in stock"):
        fulfilment.restock_goods(order_id=order.pk, actor=None, reason="again", request_token="x")
    product.refresh_from_db()
    assert product.stock == 5


def test_refund_with_restock_yes_on_the_admin_page(support_client, checkout, make_product):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)
    response = act(support_client, order, "refund", reason="returned", restock="yes", amount="")
    assert said(response) == [f"Refund of €30.00 made at Stripe for {order.reference}."]
    product.refresh_from_db()
    assert product.stock == 5
    [audit] = staff_events(order, "refund")
    assert audit.details["restock"] is True
    assert audit.details["restocked"][0]["units"] == 2


def test_goods_returned_later_go_back_to_stock_once(support_client, checkout, make_product):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)
    settle(refund(order, restock=False).order)
    response = act(support_client, order, "restock", reason="parcel came back")
    assert said(response) == [f"Back in stock from {order.reference}: 2 × Test mug."]
    again = act(support_client, order, "restock", reason="parcel came back")  # replay
    assert said(again) == [f"Back in stock from {order.reference}: 2 × Test mug."]
    product.refresh_from_db()
    assert product.stock == 5
    before = snapshot(order)
    response = act(support_client, order, "restock", token="tok-2", reason="again?")
    assert said(response) == [
        f"Goods returned to stock refused: All the goods of order {order.reference} "
        "are already in stock."
    ]
    assert snapshot(order) == before
    [audit] = staff_events(order, "restock")
    assert audit.message == "parcel came back"


def test_goods_returned_is_refused_for_an_unpaid_order_whose_stock_went_back_by_itself(
    support_client, checkout, make_product
):
    product = make_product(stock=5)
    order = checkout(CARD_DECLINED, product=product, quantity=2)
    product.refresh_from_db()
    assert (order.status, product.stock) == (OrderStatus.PAYMENT_FAILED, 5)  # released at once
    before = snapshot(order)
    with pytest.raises(ActionRefused, match="was already released"):
        fulfilment.restock_goods(order_id=order.pk, actor=None, reason="?", request_token="r")
    assert snapshot(order) == before
    pending = checkout(CARD_3DS, product=product, quantity=1)
    before = snapshot(pending)
    with pytest.raises(ActionRefused, match="only a paid or refunded order"):
        fulfilment.restock_goods(order_id=pending.pk, actor=None, reason="?", request_token="r")
    assert snapshot(pending) == before
    product.refresh_from_db()
    assert product.stock == 4


def test_an_unpaid_order_cancelled_by_support_still_releases_its_stock(
    support_client, checkout, make_product
):
    product = make_product(stock=5)
    order = checkout(CARD_3DS, product=product, quantity=2)
    product.refresh_from_db()
    assert product.stock == 3
    act(support_client, order, "cancel", reason="abandoned")
    product.refresh_from_db()
    assert product.stock == 5


def test_goods_returned_to_stock_cannot_be_shipped(checkout):
    order = checkout()
    fulfilment.restock_goods(order_id=order.pk, actor=None, reason="cancelled", request_token="r")
    before = snapshot(order)
    with pytest.raises(ActionRefused, match="returned to stock"):
        ship(order)
    assert snapshot(order) == before
