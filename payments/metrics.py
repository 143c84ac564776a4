"""``/metrics``: the payments health as Prometheus gauges, for a monitor to scrape and alert on.

The same figures as the admin's health page and ``payments_report`` (``payments.health``),
read at each scrape (a handful of aggregate queries), in Prometheus' text format written by
prometheus_client. Guarded by a bearer token (METRICS_TOKEN); without one the route is off.
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from djstripe.models import WebhookEventTrigger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from payments.health import payments_health
from qworker.heartbeat import last_beat


def _seconds(value) -> float:
    return float("nan") if value is None else value.total_seconds()


class PaymentsCollector:
    """Yield the gauges of one reading of the payments health."""

    def collect(self):
        health = payments_health(attention_limit=0)
        orders = GaugeMetricFamily("shop_orders", "Orders by state.", labels=["state"])
        for state, count in sorted(health.counts.items()):
            orders.add_metric([state], count)
        yield orders
        oldest = health.oldest_pending.age if health.oldest_pending else None
        gauges = [
            ("shop_orders_pending", "Orders not yet paid or unwound.", health.pending),
            (
                "shop_orders_pending_oldest_age_seconds",
                "Age of the oldest pending order (NaN: none).",
                _seconds(oldest),
            ),
            (
                "shop_orders_pending_past_grace",
                "Pending orders older than the grace period (the reconciler's).",
                health.pending_past_grace,
            ),
            ("shop_orders_stuck", "Orders pending past the deadline.", health.stuck),
            (
                "shop_refunds_failed",
                "Orders with a refund that failed for good.",
                health.refunds_failed,
            ),
            (
                "shop_stripe_events_unmatched",
                "Stripe events matching no order, not yet resolved by support.",
                health.unmatched_unresolved,
            ),
            ("shop_outbox_pending", "Outbox messages waiting to be sent.", health.outbox_pending),
            (
                "shop_outbox_oldest_pending_age_seconds",
                "Age of the oldest waiting outbox message (NaN: none).",
                _seconds(health.outbox_oldest_pending_age),
            ),
            ("shop_outbox_failed", "Outbox messages failed for good.", health.outbox_failed),
            (
                "shop_webhooks_failed",
                "Verified webhook deliveries whose processing failed (answered 500).",
                WebhookEventTrigger.objects.filter(valid=True, processed=False).count(),
            ),
            (
                "shop_reconciler_last_run_age_seconds",
                "Since the reconciler last started (NaN: never).",
                _seconds(health.last_run.age if health.last_run else None),
            ),
            (
                "shop_reconciler_last_run_errors",
                "Errors of the reconciler's last run.",
                len(health.last_run.errors) if health.last_run else 0,
            ),
            (
                "shop_worker_heartbeat_age_seconds",
                "Since a worker last ran its heartbeat task (NaN: never).",
                _seconds(timezone.now() - beat_at if (beat_at := last_beat()) else None),
            ),
            (
                "shop_payments_alerting",
                "1 when an order is stuck past the deadline or a refund failed.",
                int(health.alerting),
            ),
        ]
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=value)


def _authorized(request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@never_cache
@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off: set METRICS_TOKEN")
    if not _authorized(request, token):
        response = HttpResponse("a bearer token is needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PaymentsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
