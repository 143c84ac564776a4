"""The safe actions of the order page: their effect, their idempotence, their refusals."""

import pytest
from django.core import mail
from django.urls import reverse

from orders.models import OrderEvent, OrderStatus, OutboxMessage
from tests.conftest import CARD_3DS

pytestmark = pytest.mark.django_db(transaction=True)


def act(client, order, action, *, token="tok-1", **fields):
    """Submit one action form the way the order page does, and follow back to the order page."""
    data = {f"{action}-request_token": token, **{f"{action}-{k}": v for k, v in fields.items()}}
    return client.post(
        reverse("admin:orders_order_support_action", args=[order.pk, action]), data, follow=True
    )


def said(response) -> list[str]:
    """What the order page told the staff member after the action."""
    return [str(m) for m in response.context["messages"]]


def staff_events(order, action):
    return list(order.events.filter(kind=OrderEvent.Kind.STAFF, cause=f"staff:{action}"))


# --- Reconcile now -------------------------------------------------------------------------


def test_reconcile_now_makes_a_stuck_order_paid_and_records_who_and_why(
    support_client, support_user, stuck_order, stripe_api, clock
):
    order = stuck_order()
    clock.advance(minutes=2)
    response = act(support_client, order, "reconcile", reason="customer says they were charged")
    assert response.redirect_chain == [(reverse("admin:orders_order_change", args=[order.pk]), 302)]
    assert said(response) == [f"Order {order.reference} is now paid."]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    [audit] = staff_events(order, "reconcile")
    assert audit.actor == support_user
    assert audit.message == "Reconcile requested by sam: customer says they were charged"
    assert audit.details["user"] == support_user.username
    assert len(mail.outbox) == 1  # the confirmation, once
    assert len(stripe_api.payment_intents()) == 1


def test_reconcile_now_submitted_twice_does_it_once(support_client, stuck_order):
    order = stuck_order()
    first = act(support_client, order, "reconcile", token="same")
    second = act(support_client, order, "reconcile", token="same")
    assert said(first) == said(second) == [f"Order {order.reference} is now paid."]
    assert len(staff_events(order, "reconcile")) == 1
    assert len(mail.outbox) == 1


def test_reconcile_now_is_refused_for_a_paid_order(support_client, checkout):
    order = checkout()
    response = act(support_client, order, "reconcile")
    assert said(response) == [f"Reconcile now refused: Order {order.reference} is already paid."]
    assert staff_events(order, "reconcile") == []


def test_reconcile_now_while_stripe_is_down_leaves_the_order_pending_and_says_so(
    support_client, stuck_order, faults
):
    order = stuck_order()
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    response = act(support_client, order, "reconcile")
    [message] = said(response)
    assert message.startswith(f"Order {order.reference} is still payment starting")
    assert "Stripe did not answer in time" in message
    assert "nothing more can be charged" in message
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING


# --- Cancel and unwind --------------------------------------------------------------------


def test_cancel_unwinds_an_unpaid_order_and_closes_its_payment_intent(
    support_client, checkout, make_product, stripe_api
):
    product = make_product(stock=4)
    order = checkout(CARD_3DS, product=product, quantity=2)
    assert order.status == OrderStatus.REQUIRES_ACTION
    response = act(support_client, order, "cancel", reason="customer abandoned 3-D Secure")
    assert "is cancelled" in said(response)[0]
    order.refresh_from_db()
    product.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert product.stock == 4
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "canceled"
    assert len(staff_events(order, "cancel")) == 1
    # The same submission again is harmless: no second audit, no error.
    again = act(support_client, order, "cancel", reason="customer abandoned 3-D Secure")
    assert "is cancelled" in said(again)[0]
    assert len(staff_events(order, "cancel")) == 1


def test_cancel_is_refused_for_a_paid_order(support_client, checkout):
    order = checkout()
    response = act(support_client, order, "cancel", reason="customer changed their mind")
    assert said(response) == [
        "Cancel and unwind refused: This order is paid: refund it instead of cancelling it."
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_cancel_without_a_reason_is_refused(support_client, checkout):
    order = checkout(CARD_3DS)
    response = act(support_client, order, "cancel", reason="")
    assert said(response) == ["Cancel and unwind not done: Reason: This field is required."]
    order.refresh_from_db()
    assert order.status == OrderStatus.REQUIRES_ACTION


def test_cancel_of_an_order_stripe_had_charged_makes_it_paid_and_says_so(
    support_client, stuck_order, stripe_api
):
    order = stuck_order()
    response = act(support_client, order, "cancel", reason="customer asked")
    assert said(response) == [
        "Cancel and unwind refused: Stripe had already taken the payment, so the order is now "
        "paid and was not cancelled. Refund it if the customer does not want it."
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert stripe_api.refunds(order.payment_intent_id) == []


# --- Refunds ---------------------------------------------------------------------------------


def test_full_refund_returns_the_money_and_marks_the_order_refunded(
    support_client, support_user, checkout, stripe_api, make_product
):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)
    response = act(
        support_client, order, "refund", reason="damaged in transit", restock="no", amount=""
    )
    assert said(response) == [f"Refund of €30.00 made at Stripe for {order.reference}."]
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.refunded_amount == 3000
    assert [r["amount"] for r in stripe_api.refunds(order.payment_intent_id)] == [3000]
    # Staff said the goods did not come back: they stay out of stock (I7).
    product.refresh_from_db()
    assert product.stock == 3
    [audit] = staff_events(order, "refund")
    assert (audit.actor, audit.message, audit.details["amount"]) == (
        support_user,
        "damaged in transit",
        3000,
    )


def test_partial_refund_keeps_the_order_paid(support_client, checkout, stripe_api):
    order = checkout()
    response = act(
        support_client, order, "refund", reason="one mug chipped", restock="no", amount="4.50"
    )
    assert said(response) == [f"Refund of €4.50 made at Stripe for {order.reference}."]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.refunded_amount == 450
    # The rest can be refunded later, and only the rest.
    over = act(
        support_client, order, "refund", token="tok-2", reason="more", restock="no", amount="11.00"
    )
    assert said(over) == ["Refund refused: The refund must be between 0.01 and 10.50 EUR."]
    rest = act(
        support_client,
        order,
        "refund",
        token="tok-3",
        reason="all of it after all",
        restock="no",
        amount="",
    )
    assert said(rest) == [f"Refund of €10.50 made at Stripe for {order.reference}."]
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, 1500)
    assert sorted(r["amount"] for r in stripe_api.refunds(order.payment_intent_id)) == [450, 1050]


def test_refund_submitted_twice_refunds_once(support_client, checkout, stripe_api):
    order = checkout()
    act(
        support_client,
        order,
        "refund",
        token="dbl",
        reason="double click",
        restock="no",
        amount="2.00",
    )
    act(
        support_client,
        order,
        "refund",
        token="dbl",
        reason="double click",
        restock="no",
        amount="2.00",
    )
    assert [r["amount"] for r in stripe_api.refunds(order.payment_intent_id)] == [200]
    assert order.outbox.filter(kind=OutboxMessage.Kind.REFUND).count() == 1
    assert len(staff_events(order, "refund")) == 1


def test_refund_is_refused_for_an_unpaid_order_and_for_a_bad_amount(support_client, checkout):
    pending = checkout(CARD_3DS)
    response = act(support_client, pending, "refund", reason="?", restock="no", amount="")
    assert said(response) == [
        "Refund refused: Only paid orders can be refunded; "
        "this one is waiting for card authentication."
    ]
    paid = checkout()
    response = act(support_client, paid, "refund", reason="?", restock="no", amount="-3")
    assert said(response)[0].startswith("Refund not done: Amount:")
    response = act(support_client, paid, "refund", reason="?", restock="no", amount="abc")
    assert said(response)[0].startswith("Refund not done: Amount:")
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.REFUND).exists()


# --- Resend confirmation ---------------------------------------------------------------------


def test_resend_confirmation_sends_one_email_per_request(support_client, checkout):
    order = checkout()
    mail.outbox.clear()
    act(support_client, order, "resend_confirmation", token="r1", reason="customer lost the email")
    act(support_client, order, "resend_confirmation", token="r1", reason="customer lost the email")
    assert [m.subject for m in mail.outbox] == [f"Thank you for your order {order.reference}"]
    act(support_client, order, "resend_confirmation", token="r2", reason="asked again next day")
    assert len(mail.outbox) == 2
    assert len(staff_events(order, "resend_confirmation")) == 2


def test_resend_confirmation_is_refused_for_an_unpaid_order(support_client, checkout):
    order = checkout(CARD_3DS)
    response = act(support_client, order, "resend_confirmation", reason="?")
    assert said(response) == [
        "Resend confirmation email refused: Only a paid order has a confirmation to resend."
    ]
    assert mail.outbox == []


# --- Boundaries ---------------------------------------------------------------------------


def test_actions_only_accept_post_and_known_names(support_client, checkout):
    order = checkout()
    url = reverse("admin:orders_order_support_action", args=[order.pk, "refund"])
    assert support_client.get(url).status_code == 405
    unknown = reverse("admin:orders_order_support_action", args=[order.pk, "delete_everything"])
    assert support_client.post(unknown).status_code == 404


def test_an_action_without_its_permission_is_forbidden(client, checkout, support_user):
    from django.contrib.auth.models import Permission

    # A supervisor may let someone look without refunding: the rights are separate.
    support_user.groups.clear()
    support_user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(support_user)
    order = checkout()
    assert client.get(reverse("admin:orders_order_change", args=[order.pk])).status_code == 200
    response = act(client, order, "refund", reason="x", amount="")
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_an_expired_form_token_is_refused(support_client, checkout):
    order = checkout()
    response = act(support_client, order, "resend_confirmation", token="", reason="x")
    assert said(response) == [
        "Resend confirmation email not done: This form has expired; reload the page and try again."
    ]
