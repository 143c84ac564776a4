"""Stripe events no order matched: support attaches one to its order or dismisses it, audited."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from orders.models import OrderEvent, OrderStatus, OutboxMessage, UnmatchedPaymentEvent
from payments.health import payments_health
from payments.webhooks import handle_payment_intent_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unmatched_payment(stripe_api):
    """Money Stripe took through a PaymentIntent that names no order (its webhook kept it)."""

    def make(amount=1500, currency="eur"):
        pm = stripe_api.payment_method()
        pi = stripe_api.create_payment_intent(
            amount=amount, currency=currency, payment_method=pm, payment_method_types=["card"]
        )
        confirmed = stripe_api.confirm(pi["id"])
        assert confirmed["status"] == "succeeded"
        handle_payment_intent_event(
            event_id=f"evt_{pi['id']}", event_type="payment_intent.succeeded", data=confirmed
        )
        event = UnmatchedPaymentEvent.objects.get(stripe_id=f"evt_{pi['id']}")
        assert not event.resolved and event.payment_intent_id == pi["id"]
        return event, pm

    return make


def resolve(client, event, action, **fields):
    data = {f"{action}-{name}": value for name, value in fields.items()}
    return client.post(
        reverse("admin:orders_unmatchedpaymentevent_resolve", args=[event.pk, action]),
        data,
        follow=True,
    )


def said(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_attach_brings_the_order_up_to_date_audits_it_and_turns_health_green(
    support_client, support_user, unmatched_payment, make_order
):
    event, pm = unmatched_payment()
    order = make_order(
        status=OrderStatus.PAYMENT_STARTING, payment_intent_id=None, payment_method_id=pm
    )
    assert payments_health().alerting
    page = support_client.get(reverse("admin:orders_unmatchedpaymentevent_change", args=[event.pk]))
    assert b"Attach to order" in page.content and b"Dismiss" in page.content

    response = resolve(
        support_client,
        event,
        "attach",
        order_reference=order.reference.lower(),
        reason="customer sent the receipt",
    )
    assert said(response) == [
        f"Payment {event.payment_intent_id} attached to order {order.reference}, which is now paid."
    ]
    order.refresh_from_db()
    assert (order.status, order.payment_intent_id) == (OrderStatus.PAID, event.payment_intent_id)
    assert order.outbox.filter(kind=OutboxMessage.Kind.CONFIRMATION_EMAIL).count() == 1
    event.refresh_from_db()
    assert (event.resolved, event.resolution, event.order, event.resolved_by) == (
        True,
        UnmatchedPaymentEvent.Resolution.ATTACHED,
        order,
        support_user,
    )
    assert event.resolution_reason == "customer sent the receipt" and event.resolved_at
    [audit] = order.events.filter(kind=OrderEvent.Kind.STAFF, cause="staff:attach_stripe_event")
    assert (audit.actor, audit.message) == (support_user, "customer sent the receipt")
    assert audit.details["payment_intent"] == event.payment_intent_id
    order_page = support_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert b"staff:attach_stripe_event" in order_page.content
    health = payments_health()
    assert health.unmatched_unresolved == 0 and not health.alerting

    # The same submission again changes nothing; attaching elsewhere is refused.
    again = resolve(
        support_client, event, "attach", order_reference=order.reference, reason="again"
    )
    assert said(again)[0].endswith(f"order {order.reference}, which is now paid.")
    assert (
        order.events.filter(kind=OrderEvent.Kind.STAFF, cause="staff:attach_stripe_event").count()
        == 1
    )


@pytest.mark.parametrize(
    "order_fields, why",
    [
        ({"total_amount": 2000}, "they cannot be the same purchase"),
        ({"currency": "usd"}, "they cannot be the same purchase"),
        ({"payment_intent_id": "pi_someotherpayment"}, "already has its own payment"),
        ({"payment_method_id": "pm_anothercard"}, "was made with another card"),
    ],
)
def test_attach_to_an_order_it_cannot_belong_to_is_refused_and_changes_nothing(
    support_client, unmatched_payment, make_order, order_fields, why
):
    event, pm = unmatched_payment()
    fields = {"payment_intent_id": None, "payment_method_id": pm, **order_fields}
    order = make_order(status=OrderStatus.PAYMENT_STARTING, **fields)
    response = resolve(
        support_client, event, "attach", order_reference=order.reference, reason="looks like it"
    )
    [message] = said(response)
    assert message.startswith("Attach refused: ") and why in message
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert order.payment_intent_id == fields["payment_intent_id"]
    assert not order.events.exists()
    event.refresh_from_db()
    assert not event.resolved and event.order is None
    assert payments_health().alerting


def test_attach_to_an_unknown_order_or_without_a_reason_is_refused(
    support_client, unmatched_payment
):
    event, _ = unmatched_payment()
    unknown = resolve(support_client, event, "attach", order_reference="ORD-NOSUCH1", reason="x")
    assert said(unknown) == ["Attach refused: There is no order ORD-NOSUCH1."]
    no_reason = resolve(support_client, event, "attach", order_reference="ORD-NOSUCH1", reason="")
    assert said(no_reason) == ["Not done: Reason: This field is required."]
    event.refresh_from_db()
    assert not event.resolved


def test_dismiss_needs_a_reason_keeps_who_when_why_and_turns_health_green(
    support_client, support_user, unmatched_payment
):
    event, _ = unmatched_payment()
    with pytest.raises(CommandError, match="1 unmatched Stripe events") as alert:
        call_command("payments_report", stdout=StringIO())
    assert alert.value.returncode == 1
    refused = resolve(support_client, event, "dismiss", reason="  ")
    assert said(refused) == ["Not done: Reason: This field is required."]
    event.refresh_from_db()
    assert not event.resolved

    response = resolve(support_client, event, "dismiss", reason="test payment from the dashboard")
    assert said(response) == ["Event dismissed; the reason is kept with it."]
    event.refresh_from_db()
    assert (event.resolution, event.resolved_by, event.resolution_reason) == (
        UnmatchedPaymentEvent.Resolution.DISMISSED,
        support_user,
        "test payment from the dashboard",
    )
    assert event.resolved_at is not None
    assert not payments_health().alerting
    call_command("payments_report", stdout=StringIO())  # exits 0: nothing needs a human
    page = support_client.get(
        reverse("admin:orders_unmatchedpaymentevent_change", args=[event.pk])
    ).content.decode()
    assert "Resolved: Dismissed" in page and "test payment from the dashboard" in page

    other = resolve(support_client, event, "dismiss", reason="something else")
    assert said(other)[0].startswith("Dismiss refused: This event was already dismissed by sam")


def test_resolving_needs_the_permission(client, support_user, unmatched_payment):
    event, _ = unmatched_payment()
    support_user.groups.clear()
    support_user.user_permissions.add(Permission.objects.get(codename="view_unmatchedpaymentevent"))
    client.force_login(support_user)
    page = client.get(reverse("admin:orders_unmatchedpaymentevent_change", args=[event.pk]))
    assert page.status_code == 200 and b"Attach to order" not in page.content
    assert resolve(client, event, "dismiss", reason="no").status_code == 403
    event.refresh_from_db()
    assert not event.resolved


def test_attaching_a_payment_refunded_in_the_dashboard_books_the_refund_too(
    support_client, unmatched_payment, make_order, stripe_api
):
    event, pm = unmatched_payment()
    stripe_api.refund(event.payment_intent_id, 1500)
    order = make_order(
        status=OrderStatus.PAYMENT_STARTING, payment_intent_id=None, payment_method_id=pm
    )
    response = resolve(
        support_client, event, "attach", order_reference=order.reference, reason="dashboard refund"
    )
    assert said(response)[0].endswith("which is now refunded.")
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, 1500)
