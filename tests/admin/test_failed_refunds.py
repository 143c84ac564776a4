"""A refund the outbox gave up on: support retries it (right key) or marks it settled elsewhere,
and the payments health page turns green again."""

import re

import pytest
from django.conf import settings
from django.urls import reverse

from orders.models import OrderEvent, OrderStatus, OutboxMessage
from orders.outbox.dispatch import MAX_ATTEMPTS, dispatch_due_messages
from payments.health import payments_health
from tests.admin.test_support_actions import act, said

pytestmark = pytest.mark.django_db(transaction=True)

FOLDED = re.compile(r"<details\b.*?</details>", re.S)


def refund_that_gives_up(support_client, order, clock) -> OutboxMessage:
    """Ask for a full refund and let the outbox try until it gives up."""
    response = act(
        support_client, order, "refund", reason="damaged in transit", restock="no", amount=""
    )
    for _ in range(MAX_ATTEMPTS - 1):
        clock.advance(seconds=settings.PAYMENTS["RETRY_MAX"].total_seconds() + 1)
        dispatch_due_messages()
    [message] = order.outbox.filter(kind=OutboxMessage.Kind.REFUND)
    assert message.state == OutboxMessage.State.FAILED
    assert message.attempts == MAX_ATTEMPTS
    health = payments_health()
    assert health.refunds_failed == 1 and health.alerting
    message.first_response = response
    return message


def test_retry_after_stripe_saved_its_errors_uses_a_new_key_refunds_once_and_turns_health_green(
    support_client, support_user, checkout, stripe_says, stripe_api, clock
):
    order = checkout()
    # Stripe answers every attempt with a 500 it saves under that attempt's key.
    stripe_says.server_error("/v1/refunds", times=MAX_ATTEMPTS)
    message = refund_that_gives_up(support_client, order, clock)
    # The staff's first message says what happened in plain words, detail folded away.
    [first] = said(message.first_response)  # the first attempt failed; the outbox retries
    assert first.startswith("Refund of €15.00 queued")
    assert stripe_api.refunds(order.payment_intent_id) == []
    # Every attempt got a saved 500: the key after the last one is a new one.
    assert message.key_round == MAX_ATTEMPTS

    page = support_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert b"Retry refund" in page.content
    visible = FOLDED.sub("", page.content.decode())
    assert "Stripe had a problem of its own" in visible
    assert "injected" not in visible and "APIError" not in visible

    response = act(support_client, order, "retry_refund", token="retry-1", reason="Stripe is up")
    assert said(response) == [f"Refund of €15.00 made at Stripe for {order.reference}."]
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, 1500)
    assert [r["amount"] for r in stripe_api.refunds(order.payment_intent_id)] == [1500]
    [audit] = order.events.filter(kind=OrderEvent.Kind.STAFF, cause="staff:retry_refund")
    assert (audit.actor, audit.message) == (support_user, "Stripe is up")
    assert audit.details["outbox_ids"] == [message.pk]
    assert audit.details["key_rounds"] == [MAX_ATTEMPTS]
    health = payments_health()
    assert health.refunds_failed == 0 and not health.alerting

    # The same submission again refunds nothing more.
    act(support_client, order, "retry_refund", token="retry-1", reason="Stripe is up")
    assert len(stripe_api.refunds(order.payment_intent_id)) == 1
    assert order.events.filter(cause="staff:retry_refund").count() == 1


def test_retry_after_stripe_never_answered_keeps_the_same_key(
    support_client, checkout, faults, stripe_api, clock
):
    order = checkout()
    faults.add("timeout", path="/v1/refunds", times=MAX_ATTEMPTS)
    message = refund_that_gives_up(support_client, order, clock)
    # Nothing reached Stripe: nothing is saved under the key, so it is the right key to resend.
    assert message.key_round == 0
    response = act(support_client, order, "retry_refund", reason="network fixed")
    assert said(response) == [f"Refund of €15.00 made at Stripe for {order.reference}."]
    message.refresh_from_db()
    assert (message.state, message.key_round) == (OutboxMessage.State.SENT, 0)
    assert [r["amount"] for r in stripe_api.refunds(order.payment_intent_id)] == [1500]


def test_mark_resolved_outside_the_shop_needs_a_reason_sends_nothing_and_turns_health_green(
    support_client, support_user, checkout, stripe_says, stripe_api, clock
):
    order = checkout()
    stripe_says.server_error("/v1/refunds", times=MAX_ATTEMPTS)
    message = refund_that_gives_up(support_client, order, clock)

    refused = act(support_client, order, "resolve_refund", reason="")
    assert said(refused) == [
        "Mark refund resolved outside the shop not done: Reason: This field is required."
    ]
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.FAILED

    response = act(
        support_client, order, "resolve_refund", reason="paid back by bank transfer, ticket 42"
    )
    assert said(response) == [
        f"Failed refund of €15.00 for {order.reference} marked resolved outside the shop; "
        "nothing was sent to Stripe."
    ]
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.RESOLVED
    assert message.result["resolved_by"] == support_user.username
    [audit] = order.events.filter(kind=OrderEvent.Kind.STAFF, cause="staff:resolve_refund")
    assert (audit.actor, audit.message) == (support_user, "paid back by bank transfer, ticket 42")
    assert stripe_api.refunds(order.payment_intent_id) == []
    health = payments_health()
    assert health.refunds_failed == 0 and not health.alerting
    # Nothing left to retry or resolve.
    again = act(support_client, order, "retry_refund", token="later", reason="oops")
    assert said(again) == ["Retry refund refused: This order has no failed refund to retry."]


def test_retry_refund_is_refused_without_a_failed_refund_and_without_the_permission(
    client, support_client, support_user, checkout
):
    order = checkout()
    response = act(support_client, order, "retry_refund", reason="why not")
    assert said(response) == ["Retry refund refused: This order has no failed refund to retry."]
    assert not order.events.filter(cause="staff:retry_refund").exists()

    from django.contrib.auth.models import Permission

    support_user.groups.clear()
    support_user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(support_user)
    assert act(client, order, "resolve_refund", reason="x").status_code == 403


def test_raw_errors_on_the_outbox_list_and_the_health_page_are_folded_away(
    support_client, checkout, stripe_says, clock
):
    from payments.models import ReconcilerRun

    order = checkout()
    stripe_says.server_error("/v1/refunds", times=MAX_ATTEMPTS)
    message = refund_that_gives_up(support_client, order, clock)
    assert "APIError" in message.last_error
    outbox_list = support_client.get(reverse("admin:orders_outboxmessage_changelist"))
    visible = FOLDED.sub("", outbox_list.content.decode())
    assert "Stripe had a problem of its own" in visible and "APIError" not in visible

    raw = 'order 7: database error: connection to server at "127.0.0.1", port 5432 failed'
    ReconcilerRun.objects.create(started_at=clock(), finished_at=clock(), errors=[raw])
    health = support_client.get(reverse("admin:payments_health")).content.decode()
    assert "Our own database failed" in FOLDED.sub("", health)
    assert "port 5432" not in FOLDED.sub("", health) and "port 5432" in health
