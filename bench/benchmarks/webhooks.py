"""Webhooks benchmark: signed payment_intent.succeeded events/s ingested and applied."""

import hashlib
import hmac
import json
import time

from bench import shopdata
from bench.benchmarks.context import TAG, WEBHOOK_SECRET
from bench.measure import pct
from bench.report import log


def run(bench) -> dict:
    from orders.models import Order, OrderStatus
    from payments.stand_in import seed_local_account, webhook_url

    n, c = bench.args.events, bench.args.concurrency
    ids = shopdata.make_stale_orders(n, age_minutes=0)
    url = webhook_url(seed_local_account(), bench.web_base)
    prepared = []
    now = int(time.time())
    for order_id in ids:
        pi = f"pi_fake_{order_id}x1500xeur"
        event = {
            "id": f"evt_bench_{order_id}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": now,
            "type": "payment_intent.succeeded",
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {
                "object": {
                    "id": pi,
                    "object": "payment_intent",
                    "amount": 1500,
                    "currency": "eur",
                    "status": "succeeded",
                    "created": now,
                    "livemode": False,
                    "metadata": {"order_id": str(order_id), "shop": TAG},
                    "payment_method": None,
                    "last_payment_error": None,
                }
            },
        }
        body = json.dumps(event)
        signature = hmac.new(
            WEBHOOK_SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        prepared.append(
            (
                "POST",
                url,
                {"Stripe-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"},
                body,
            )
        )
    log(f"webhooks: {n} signed payment_intent.succeeded events, {c} at a time")
    latencies, statuses, wall = bench.fire(prepared, c)
    applied = Order.objects.filter(pk__in=ids, status=OrderStatus.PAID).count()
    return {
        "events": n,
        "statuses": dict(statuses),
        "events_per_s": statuses[200] / wall,
        "applied": applied,
        "applied_per_s": applied / wall,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
    }


def report(x: dict, args) -> None:
    print(
        f"webhooks   : {x['events_per_s']:.0f} events/s ingested, "
        f"{x['applied']}/{x['events']} applied "
        f"({x['applied_per_s']:.0f}/s), p50 {x['p50_ms']:.0f} ms, p99 {x['p99_ms']:.0f} ms, "
        f"statuses {x['statuses']}"
    )
