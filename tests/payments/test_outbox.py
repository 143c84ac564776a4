"""The outbox: side effects leave after the commit, once, with retries."""

import smtplib

import pytest
from django.core import mail

from orders.models import OrderStatus, OutboxMessage
from orders.outbox import dispatch as outbox
from orders.support import actions as support
from tests.invariants import assert_invariants

pytestmark = pytest.mark.django_db(transaction=True)


def test_failing_mail_server_is_retried_with_backoff_and_sends_once(
    checkout, clock, monkeypatch, stripe_api
):
    from django.core.mail.backends.locmem import EmailBackend

    real_send = EmailBackend.send_messages
    failures = {"left": 2}

    def flaky(self, messages):
        if failures["left"]:
            failures["left"] -= 1
            raise smtplib.SMTPServerDisconnected("mail server went away")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)
    order = checkout()
    assert order.status == OrderStatus.PAID
    message = order.outbox.get()
    assert message.state == OutboxMessage.State.PENDING
    assert "went away" in message.last_error
    assert outbox.dispatch_due_messages() == {}  # backing off: not due yet

    for _ in range(2):
        message.refresh_from_db()
        clock.current = message.available_at
        outbox.dispatch_due_messages()
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT
    assert message.attempts == 3
    assert len(mail.outbox) == 1
    assert_invariants(stripe_api)


def test_refund_whose_reply_was_lost_is_made_once(
    checkout, faults, clock, stripe_api, django_user_model
):
    order = checkout()
    staff = django_user_model.objects.create_user("agent", is_staff=True)
    faults.add("lost_response", path="/v1/refunds")
    message = support.refund_order(
        restock=False,
        order_id=order.pk,
        amount=500,
        actor=staff,
        reason="scratched",
        request_token="r1",
    )
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.PENDING
    assert len(stripe_api.refunds(order.payment_intent_id)) == 1  # Stripe made it

    clock.current = message.available_at
    outbox.dispatch_due_messages()
    message.refresh_from_db()
    order.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT
    assert len(stripe_api.refunds(order.payment_intent_id)) == 1
    assert order.refunded_amount == 500
    assert order.status == OrderStatus.PAID  # a partial refund does not refund the order


def test_queue_lost_on_commit_is_caught_by_the_periodic_sweep(checkout, monkeypatch, stripe_api):
    monkeypatch.setattr("orders.outbox.store.queue_dispatch", lambda message_id: None)
    order = checkout()
    assert order.outbox.get().state == OutboxMessage.State.PENDING
    assert mail.outbox == []
    assert outbox.dispatch_due_messages() == {"sent": 1}
    assert outbox.dispatch_due_messages() == {}
    assert len(mail.outbox) == 1


def test_refund_that_would_exceed_the_payment_gives_up_for_staff(
    checkout, stripe_api, django_user_model
):
    order = checkout()
    stripe_api.refund(order.payment_intent_id, order.total_amount)  # refunded in the dashboard
    staff = django_user_model.objects.create_user("agent", is_staff=True)
    message = support.refund_order(
        restock=False,
        order_id=order.pk,
        amount=None,
        actor=staff,
        reason="again",
        request_token="r2",
    )
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.FAILED
    assert "exceed" in message.last_error
    assert (
        sum(r["amount"] for r in stripe_api.refunds(order.payment_intent_id)) == order.total_amount
    )


def test_partial_refund_reported_by_webhook_and_by_the_outbox_retry_is_booked_once(
    client, checkout, faults, clock, stripe_api, django_user_model
):
    """Found by the Hypothesis machine: both paths used to add the same refund."""
    from tests.payments.webhook_helpers import deliver, event_for

    order = checkout()
    staff = django_user_model.objects.create_user("agent", is_staff=True)
    faults.add("lost_response", path="/v1/refunds")
    message = support.refund_order(
        restock=False, order_id=order.pk, amount=700, actor=staff, reason="dent", request_token="r3"
    )
    charge = {
        **stripe_api.payment_intent(order.payment_intent_id)["latest_charge"],
        "amount_refunded": 700,
    }
    assert deliver(client, event_for(charge, "charge.refunded")).status_code == 200
    message.refresh_from_db()
    clock.current = message.available_at
    outbox.dispatch_due_messages()
    order.refresh_from_db()
    assert order.refunded_amount == 700
    assert order.status == OrderStatus.PAID
    assert len(stripe_api.refunds(order.payment_intent_id)) == 1
