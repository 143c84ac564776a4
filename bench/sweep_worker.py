"""One sweep process for the backlog and audit-scale benchmarks: run it, count its requests.

    python -m bench.sweep_worker reconcile|reconcile-per-order|audit|audit-per-payment SECONDS

- ``reconcile``: the scheduled reconciler as the shop runs it (time-boxed runs, one after the
  other, lists of ``created`` windows), until no order is pending.
- ``reconcile-per-order``: the old read path, the baseline: the same claims, but every
  order converged by ``converge_order`` alone, which reads its PaymentIntent one by one.
- ``audit``: the scheduled audit (time-boxed, resumable runs) until its walk is done.
- ``audit-per-payment``: the old audit's Stripe reads, the baseline: the whole account listed
  without a window or charges, then one refunds call per succeeded PaymentIntent (for at
  most ``--sample`` of them; the rest is extrapolated by the benchmark, which says so).

Every Stripe request the process makes is counted at the HTTP layer (under the SDK), by
method, route and status. Prints one JSON line.
"""

import argparse
import json
import os
import threading
import time
from collections import Counter

from bench import stack

COUNTS: Counter = Counter()
_lock = threading.Lock()


def _route(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "payment_intents":
        parts[2] = "{id}"
    return "/" + "/".join(parts)


def count_requests() -> None:
    """Wrap the shop's HTTP client under the SDK so that each request is counted."""
    import stripe_gateway.client as gateway_client

    build = gateway_client.build_http_client

    def counting_client():
        http = build()
        send = http.request

        def request(method, url, headers, post_data=None):
            body, status, rheaders = send(method, url, headers, post_data)
            with _lock:
                COUNTS[f"{method.upper()} {_route(url)}"] += 1
                COUNTS[f"status {status}"] += 1
            return body, status, rheaders

        http.request = request
        return http

    gateway_client.build_http_client = counting_client


PREFIX = {"reference": ""}


def pending() -> int:
    """The benchmark's orders still pending (``--prefix``: theirs, not the shoppers')."""
    from orders.models import PENDING_STATUSES, Order

    orders = Order.objects.filter(status__in=PENDING_STATUSES)
    return orders.filter(reference__startswith=PREFIX["reference"]).count()


def reconcile(max_seconds: float) -> dict:
    from payments.reconcile import reconcile_pending_orders
    from payments.sweeps import TimeBox

    runs, totals, stopped = 0, Counter(), Counter()
    listed = settled = 0
    started = time.monotonic()
    while pending() and time.monotonic() - started < max_seconds:
        summary = reconcile_pending_orders(time_box=TimeBox.scheduled())
        runs += 1
        totals.update(summary.outcomes)
        listed += summary.list_requests
        settled += summary.settled_from_list
        if summary.stopped:
            stopped[summary.stopped] += 1
        if not summary.examined:
            time.sleep(1.0)  # what is left waits for its backoff
    return {
        "runs": runs,
        "outcomes": dict(totals),
        "stopped": dict(stopped),
        "list_requests": listed,
        "settled_from_list": settled,
        "seconds": time.monotonic() - started,
    }


def reconcile_per_order(max_seconds: float) -> dict:
    """The old reconciler's reads: each order's PaymentIntent fetched on its own."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from orders import policy
    from orders.payment.converge import converge_order
    from payments.reconcile import claim_batch

    totals = Counter()
    started = time.monotonic()

    def converge(order_id: int, token: str) -> str:
        try:
            return converge_order(order_id, lease_token=token)
        finally:
            connection.close()

    with ThreadPoolExecutor(policy.reconcile_concurrency()) as pool:
        while pending() and time.monotonic() - started < max_seconds:
            token = uuid.uuid4().hex
            ids = claim_batch(size=policy.reconcile_batch_size(), token=token)
            if not ids:
                time.sleep(1.0)
                continue
            totals.update(pool.map(converge, ids, [token] * len(ids)))
    return {"outcomes": dict(totals), "seconds": time.monotonic() - started}


def audit(max_seconds: float) -> dict:
    from payments.audit import audit_payments
    from payments.models import AuditCursor
    from payments.sweeps import TimeBox

    runs, seen, checked, broken, stopped = 0, 0, 0, 0, Counter()
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        report = audit_payments(time_box=TimeBox.scheduled())
        runs += 1
        seen += report.payment_intents_seen
        checked += report.orders_checked
        broken = len(report.broken)
        if report.stopped:
            stopped[report.stopped] += 1
        if not report.partial and not AuditCursor.objects.exists():
            break
    return {
        "runs": runs,
        "payment_intents_seen": seen,
        "orders_checked": checked,
        "broken_last_run": broken,
        "stopped": dict(stopped),
        "seconds": time.monotonic() - started,
    }


def audit_per_payment(max_seconds: float, sample: int) -> dict:
    """The old audit's Stripe reads: everything listed, one refunds call per paid one."""
    import stripe_gateway

    started = time.monotonic()
    succeeded = []
    for pi in stripe_gateway.list_payment_intents(max_items=10_000):
        if pi.succeeded:
            succeeded.append(pi.id)
    listed_at = time.monotonic()
    for pi_id in succeeded[:sample]:
        if time.monotonic() - started > max_seconds:
            break
        stripe_gateway.list_refunds(pi_id)
    return {
        "succeeded": len(succeeded),
        "refund_calls": COUNTS["GET /v1/refunds"],
        "list_seconds": listed_at - started,
        "refund_seconds": time.monotonic() - listed_at,
        "seconds": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "mode", choices=["reconcile", "reconcile-per-order", "audit", "audit-per-payment"]
    )
    parser.add_argument("max_seconds", type=float)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--prefix", default="", help="count only orders whose reference starts so")
    args = parser.parse_args()
    PREFIX["reference"] = args.prefix
    stack.setup_django(dict(os.environ))
    count_requests()
    if args.mode == "reconcile":
        result = reconcile(args.max_seconds)
    elif args.mode == "reconcile-per-order":
        result = reconcile_per_order(args.max_seconds)
    elif args.mode == "audit":
        result = audit(args.max_seconds)
    else:
        result = audit_per_payment(args.max_seconds, args.sample)
    result["requests"] = dict(COUNTS)
    result["left_pending"] = pending()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
