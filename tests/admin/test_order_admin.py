"""The orders admin as support staff use it: who sees what, the list, the order page."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import OrderEvent, OrderStatus, OutboxMessage
from orders.permissions import SUPPORT_GROUP, SUPPORT_PERMISSIONS, ensure_support_group
from tests.conftest import CARD_3DS

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:orders_order_changelist"


def change_url(order):
    return reverse("admin:orders_order_change", args=[order.pk])


# --- Who sees what ------------------------------------------------------------------------


def test_support_group_holds_exactly_the_rights_support_needs():
    group = Group.objects.get(name=SUPPORT_GROUP)
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == set(SUPPORT_PERMISSIONS)
    assert not any(codename.startswith(("add_", "change_", "delete_")) for _, codename in granted)


def test_the_migration_creates_the_permissions_and_the_group_by_itself():
    from django.db.migrations.executor import MigrationExecutor

    migration = import_module("orders.migrations.0002_support_group")
    later = import_module("orders.migrations.0005_support_resolutions")
    Group.objects.filter(name=SUPPORT_GROUP).delete()
    Permission.objects.filter(
        codename__in=["refund_order", "view_reconcilerrun", "resolve_unmatchedpaymentevent"]
    ).delete()
    loader = MigrationExecutor(connection).loader
    state = loader.project_state(("orders", "0002_support_group"))
    with connection.schema_editor() as editor:
        migration.create_support_group(state.apps, editor)
    state = loader.project_state(("orders", "0005_support_resolutions"))
    with connection.schema_editor() as editor:
        later.grant_resolve_permission(state.apps, editor)
    group = Group.objects.get(name=SUPPORT_GROUP)
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == set(migration.SUPPORT_PERMISSIONS) | {
        ("orders", "resolve_unmatchedpaymentevent")
    }
    # A later migration adds the fulfilment rights (ship, restock): the live list.
    Permission.objects.filter(codename__in=["ship_order", "restock_order"]).delete()
    fulfilment = import_module("orders.migrations.0009_fulfilment_and_restock")
    state = MigrationExecutor(connection).loader.project_state(
        ("orders", "0009_fulfilment_and_restock")
    )
    with connection.schema_editor() as editor:
        fulfilment.grant_fulfilment_to_support(state.apps, editor)
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == set(SUPPORT_PERMISSIONS)


def test_ensure_support_group_twice_changes_nothing_and_restores_a_tampered_group():
    group = Group.objects.get(name=SUPPORT_GROUP)
    group.permissions.add(Permission.objects.get(codename="change_order"))
    ensure_support_group()
    ensure_support_group()
    assert Group.objects.filter(name=SUPPORT_GROUP).count() == 1
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == set(
        SUPPORT_PERMISSIONS
    )


def test_support_user_sees_the_orders_pages(support_client, make_order, stripe_api):
    order = make_order()
    for url in (
        reverse("admin:index"),
        reverse(CHANGELIST),
        change_url(order),
        reverse("admin:payments_health"),
        reverse("admin:orders_outboxmessage_changelist"),
        reverse("admin:orders_orderevent_changelist"),
        reverse("admin:orders_unmatchedpaymentevent_changelist"),
        reverse("admin:payments_reconcilerrun_changelist"),
    ):
        response = support_client.get(url)
        assert response.status_code == 200, url
    index = support_client.get(reverse("admin:index")).content.decode()
    assert reverse(CHANGELIST) in index
    assert reverse("admin:payments_health") in index


def test_staff_without_support_group_sees_nothing_of_orders(client, plain_staff, make_order):
    order = make_order()
    client.force_login(plain_staff)
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse(CHANGELIST) not in index
    assert reverse("admin:payments_health") not in index
    for url in (
        reverse(CHANGELIST),
        change_url(order),
        reverse("admin:payments_health"),
        reverse("admin:orders_outboxmessage_changelist"),
        reverse("admin:payments_reconcilerrun_changelist"),
    ):
        assert client.get(url).status_code == 403, url
    action = reverse("admin:orders_order_support_action", args=[order.pk, "resend_confirmation"])
    response = client.post(
        action, {"resend_confirmation-reason": "x", "resend_confirmation-request_token": "t1"}
    )
    assert response.status_code == 403
    assert not OutboxMessage.objects.exists()


def test_anonymous_visitor_is_sent_to_the_login_page(client, make_order):
    order = make_order()
    for url in (reverse(CHANGELIST), change_url(order), reverse("admin:payments_health")):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]


# --- The list -------------------------------------------------------------------------------


def test_list_shows_state_age_email_total_attempts_and_next_reconcile(
    support_client, make_order, clock
):
    order = make_order(
        OrderStatus.PAYMENT_STARTING, attempts=3, email="carla@example.com", total_amount=4250
    )
    order.next_attempt_at = clock() + timedelta(minutes=5)
    order.save(update_fields=["next_attempt_at"])
    clock.advance(minutes=7)
    html = support_client.get(reverse(CHANGELIST)).content.decode()
    assert order.reference in html
    assert "Payment starting" in html
    assert "7\xa0minutes" in html
    assert "carla@example.com" in html
    assert "€42.50" in html
    assert "due now" in html
    for column in ("status", "age", "email", "total", "attempts", "next reconcile"):
        assert f">{column.capitalize()}<" in html or column in html.lower()


@pytest.mark.parametrize("field", ["reference", "email", "payment_intent_id", "idempotency_key"])
def test_search_finds_an_order_by(field, support_client, make_order):
    wanted = make_order(email="wanted@example.com")
    other = make_order(email="other@example.com")
    response = support_client.get(reverse(CHANGELIST), {"q": getattr(wanted, field)})
    assert list(response.context["cl"].result_list) == [wanted]
    assert other.reference not in response.content.decode()


def test_stuck_filters_pick_pending_past_grace_needing_attention_and_failed_refunds(
    support_client, make_order, clock
):
    now = clock()
    fresh = make_order(OrderStatus.PAYMENT_STARTING, created_at=now)
    waiting = make_order(OrderStatus.PAYMENT_STARTING, created_at=now - timedelta(minutes=5))
    ancient = make_order(OrderStatus.REQUIRES_ACTION, created_at=now - timedelta(hours=3))
    refund_gave_up = make_order(OrderStatus.PAID, created_at=now - timedelta(minutes=5))
    email_gave_up = make_order(OrderStatus.PAID, created_at=now - timedelta(minutes=5))
    make_order(OrderStatus.PAID)
    for order, kind in (
        (refund_gave_up, OutboxMessage.Kind.REFUND),
        (email_gave_up, OutboxMessage.Kind.CONFIRMATION_EMAIL),
    ):
        OutboxMessage.objects.create(
            order=order,
            kind=kind,
            state=OutboxMessage.State.FAILED,
            available_at=now,
            created_at=now,
            payload={"payment_intent_id": order.payment_intent_id, "amount": 100},
        )

    def listed(**params):
        response = support_client.get(reverse(CHANGELIST), params)
        return {o.pk for o in response.context["cl"].result_list}

    assert listed(stuck="past_grace") == {waiting.pk, ancient.pk}
    assert listed(stuck="attention") == {ancient.pk, refund_gave_up.pk, email_gave_up.pk}
    assert listed(stuck="refund_failed") == {refund_gave_up.pk}
    assert listed(status__exact="requires_action") == {ancient.pk}
    assert fresh.pk in listed()
    # "Show counts" counts each filter choice through the same conditions.
    html = support_client.get(reverse(CHANGELIST), {"_facets": "True"}).content.decode()
    assert "Needs attention (3)" in html and "Refund failed (1)" in html


def test_list_query_count_does_not_grow_with_the_number_of_orders(support_client, make_order):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = support_client.get(reverse(CHANGELIST))
        assert response.status_code == 200
        return len(queries)

    for _ in range(3):
        make_order(OrderStatus.PAYMENT_STARTING)
    few = count_queries()
    for _ in range(27):
        make_order()
    assert len(support_client.get(reverse(CHANGELIST)).context["cl"].result_list) == 30
    many = count_queries()
    print(f"changelist queries: 3 orders -> {few}, 30 orders -> {many}")
    assert few == many


# --- The order page ---------------------------------------------------------------------------


def test_order_page_is_read_only_for_support(support_client, checkout):
    order = checkout()
    response = support_client.get(change_url(order))
    html = response.content.decode()
    assert response.status_code == 200
    for field in ("total_amount", "status", "refunded_amount", "currency", "email"):
        assert f'name="{field}"' not in html
    assert 'name="_save"' not in html
    assert "lines-0-quantity" not in html  # the lines inline has no inputs either
    assert "€15.00" in html and "Test mug" in html
    # Posting the change form anyway changes nothing.
    response = support_client.post(
        change_url(order), {"status": "refunded", "total_amount": "1", "email": "x@example.com"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert (order.status, order.total_amount) == (OrderStatus.PAID, 1500)


def test_order_page_shows_the_whole_timeline(support_client, checkout, support_user):
    from orders.support import actions as support

    order = checkout()
    support.resend_confirmation(
        order_id=order.pk, actor=support_user, reason="customer lost it", request_token="tl-1"
    )
    html = support_client.get(change_url(order)).content.decode()
    timeline = html[html.index('id="timeline"') :]
    assert "payment_starting" in timeline and "→ paid" in timeline  # state transitions
    assert "PaymentIntent created (unconfirmed) and recorded" in timeline  # Stripe calls
    assert "PaymentIntent confirmed" in timeline
    assert "Order confirmation email queued" in timeline  # outbox messages
    assert "Order confirmation email: done" in timeline  # emails sent
    assert (
        "staff:resend_confirmation" in timeline and "customer lost it" in timeline
    )  # staff actions
    assert support_user.username in timeline


def test_order_page_shows_webhooks_in_the_timeline(support_client, checkout):
    from orders.payment.apply import apply_payment_intent
    from stripe_gateway import retrieve_payment_intent

    order = checkout()
    apply_payment_intent(
        order.pk,
        retrieve_payment_intent(order.payment_intent_id),
        cause="webhook:payment_intent.succeeded",
        event_kind=OrderEvent.Kind.WEBHOOK,
    )
    timeline = support_client.get(change_url(order)).content.decode().split('id="timeline"')[1]
    assert "webhook:payment_intent.succeeded" in timeline


def test_order_page_links_the_payment_intent_to_the_stripe_dashboard_with_real_stripe(
    support_client, make_order, settings
):
    order = make_order()
    html = support_client.get(change_url(order)).content.decode()
    assert "dashboard.stripe.com" not in html  # the local stand-in has no dashboard
    assert order.payment_intent_id in html
    settings.STRIPE_DASHBOARD_URL = "https://dashboard.stripe.com/test"
    html = support_client.get(change_url(order)).content.decode()
    assert f'href="https://dashboard.stripe.com/test/payments/{order.payment_intent_id}"' in html


def test_order_page_offers_only_the_actions_the_state_allows(support_client, checkout):
    paid = checkout()
    html = support_client.get(change_url(paid)).content.decode()
    assert "support-action-refund" in html and "support-action-resend_confirmation" in html
    assert "support-action-reconcile" not in html and "support-action-cancel" not in html
    assert "only a pending order can be reconciled" in html
    pending = checkout(CARD_3DS)
    html = support_client.get(change_url(pending)).content.decode()
    assert "support-action-reconcile" in html and "support-action-cancel" in html
    assert "support-action-refund" not in html


def test_a_superuser_still_sees_the_whole_admin_including_dj_stripe(client, make_order):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-pass-123"))
    order = make_order()
    for url in (
        reverse("admin:index"),
        reverse("admin:app_list", args=["djstripe"]),
        change_url(order),
        reverse("admin:payments_health"),
    ):
        assert client.get(url).status_code == 200, url
