"""The webhook URL is public: junk sent to it is refused without being stored, and records
of what was stored do not pile up for ever."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from djstripe.models import Event, WebhookEventTrigger

from orders import clock
from orders.models import OrderStatus
from payments.schedules import SCHEDULES
from payments.stand_in import seed_local_account, webhook_url
from tests.payments.webhook_helpers import deliver, event_for

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, body: str, **headers):
    url = webhook_url(seed_local_account(), "")
    return client.post(url, data=body, content_type="application/json", **headers)


def test_a_request_with_a_junk_signature_is_refused_and_nothing_of_it_is_stored(client, caplog):
    body = json.dumps({"id": "evt_junk", "livemode": False, "padding": "x" * 10_000})

    response = post(client, body, HTTP_STRIPE_SIGNATURE="t=1,v1=deadbeef")

    assert response.status_code == 400
    assert WebhookEventTrigger.objects.count() == 0
    refused = [r for r in caplog.records if r.getMessage() == "webhook refused"]
    assert len(refused) == 1 and refused[0].exc_info is None  # one line, no traceback
    assert refused[0].reason == "signature or body did not verify"


def test_five_two_megabyte_posts_are_refused_unread_and_the_database_does_not_grow(client):
    body = json.dumps({"id": "evt_big", "livemode": False, "padding": "x" * 2_000_000})
    with connection.cursor() as cursor:
        size = "SELECT pg_total_relation_size('djstripe_webhookeventtrigger')"
        cursor.execute(size)
        before = cursor.fetchone()[0]
        statuses = [
            post(client, body, HTTP_STRIPE_SIGNATURE="t=1,v1=deadbeef").status_code
            for _ in range(5)
        ]
        cursor.execute(size)
        after = cursor.fetchone()[0]
    assert statuses == [413] * 5
    assert WebhookEventTrigger.objects.count() == 0
    assert after == before


def test_a_signed_body_over_the_limit_is_refused_too(
    client, settings, pending_paid_at_stripe, stripe_api
):
    settings.WEBHOOK_MAX_BODY_BYTES = 4096
    order = pending_paid_at_stripe
    event = event_for(
        stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"
    )
    event["padding"] = "x" * 5000

    assert deliver(client, event).status_code == 413
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert WebhookEventTrigger.objects.count() == 0


def test_a_signed_event_under_the_limit_is_stored_and_applied(
    client, pending_paid_at_stripe, stripe_api
):
    order = pending_paid_at_stripe
    event = event_for(
        stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"
    )
    assert deliver(client, event).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert WebhookEventTrigger.objects.get().valid


def _trigger(*, valid: bool, age: timedelta) -> WebhookEventTrigger:
    trigger = WebhookEventTrigger.objects.create(
        remote_ip="192.0.2.1", headers={}, body="x" * 1000, valid=valid, processed=valid
    )
    WebhookEventTrigger.objects.filter(pk=trigger.pk).update(created=clock.now() - age)
    return trigger


def test_the_sweep_deletes_old_unverified_and_very_old_verified_records_and_expired_counts(
    client, pending_paid_at_stripe, stripe_api
):
    order = pending_paid_at_stripe
    deliver(
        client,
        event_for(stripe_api.payment_intent(order.payment_intent_id), "payment_intent.succeeded"),
    )
    fresh_valid = WebhookEventTrigger.objects.get()
    old_junk = _trigger(valid=False, age=timedelta(hours=25))
    new_junk = _trigger(valid=False, age=timedelta(hours=1))
    month_old = _trigger(valid=True, age=timedelta(days=31))
    cache.set("rl:expired", 1, 0)  # stored already expired
    cache.set("rl:live", 1, 600)

    call_command("prune_webhook_records")

    left = set(WebhookEventTrigger.objects.values_list("pk", flat=True))
    assert left == {fresh_valid.pk, new_junk.pk}
    assert old_junk.pk not in left and month_old.pk not in left
    assert Event.objects.count() == 1  # the events themselves are kept
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM shop_cache")
        assert cursor.fetchone()[0] == 1
    assert cache.get("rl:live") == 1


def test_the_sweep_runs_every_hour_and_refuses_bad_arguments():
    assert ("prune-webhook-records", "payments.tasks.prune_webhook_records", 60) in SCHEDULES
    with pytest.raises(CommandError, match="must be at least 1"):
        call_command("prune_webhook_records", "--unverified-hours", "0")
    with pytest.raises(CommandError, match="not a whole number"):
        call_command("prune_webhook_records", "--processed-days", "nan")
