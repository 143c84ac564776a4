"""/healthz for the load balancer and /metrics for the monitor (issue 14: there were none)."""

import math
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task
from prometheus_client.parser import text_string_to_metric_families

from orders.models import OrderStatus
from qworker import heartbeat
from qworker.models import Heartbeat

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"


def test_healthz_is_503_until_a_worker_has_run_its_heartbeat_task(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "worker": "no heartbeat yet", "status": "fail"}

    # The schedule exists after migrate, and the worker runs it like any task.
    schedule = Schedule.objects.get(name="worker-heartbeat")
    assert (schedule.func, schedule.minutes) == ("qworker.heartbeat.beat", 1)
    async_task(schedule.func)  # Q_CLUSTER sync in the tests: run now

    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["worker"] == "ok"
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_is_503_when_the_heartbeat_is_stale(client, settings):
    settings.HEALTHZ_HEARTBEAT_MAX_AGE = 180
    heartbeat.beat()
    Heartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=181))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"] == "stale"
    assert response.json()["worker_heartbeat_age_seconds"] >= 181


def test_healthz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    heartbeat.beat()

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:  # undone before other fixtures' teardown uses it
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_healthz_is_cheap_needs_no_login_and_is_not_redirected_to_https(
    client, settings, django_assert_max_num_queries
):
    heartbeat.beat()
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/").status_code == 301  # everything else goes to https
    with django_assert_max_num_queries(2):
        assert client.get("/healthz").status_code == 200


def scrape(client, token=TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/metrics", **headers)


def gauges(response) -> dict:
    text = response.content.decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"[{v}]" for v in sample.labels.values())
            values[key] = sample.value
    return values


def test_metrics_are_off_without_a_token_and_refused_without_the_right_one(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404
    settings.METRICS_TOKEN = TOKEN
    assert scrape(client, token=None).status_code == 401
    refused = scrape(client, token="not-the-token")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert b"shop_orders" not in refused.content


def test_metrics_give_the_payments_health_as_prometheus_gauges(
    client, settings, pending_paid_at_stripe, checkout
):
    settings.METRICS_TOKEN = TOKEN
    # pending_paid_at_stripe: one order pending, Stripe's reply lost
    checkout()  # paid
    checkout("4000000000000341")  # declined
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = gauges(response)
    assert values[f"shop_orders[{OrderStatus.PAID}]"] == 1
    assert values[f"shop_orders[{OrderStatus.PAYMENT_FAILED}]"] == 1
    assert values["shop_orders_pending"] == 1
    assert values["shop_orders_pending_oldest_age_seconds"] >= 0
    assert values["shop_refunds_failed"] == 0 and values["shop_payments_alerting"] == 0
    assert values["shop_stripe_events_unmatched"] == 0
    assert math.isnan(values["shop_worker_heartbeat_age_seconds"])  # no worker yet

    heartbeat.beat()
    assert 0 <= gauges(scrape(client))["shop_worker_heartbeat_age_seconds"] < 60
