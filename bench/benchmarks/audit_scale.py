"""Audit-scale benchmark: the audit over 10,000 paid orders in its window, inside Stripe's limit.

Stripe is ``bench.fast_stripe --stateful --rate-limit 25 --latency-ms 300``, holding each paid
order's PaymentIntent (created across the 48 h window) and ``--old-payment-intents`` older
ones outside it. Two measurements in one run:

- ``windowed``: the audit as scheduled (``bench.sweep_worker audit``): time-boxed runs, each
  listing its window (``created[gte]``) 100 a request with ``expand[]=data.latest_charge``,
  no refunds call, until its walk is done;
- ``per_payment`` (the baseline): the old audit's Stripe reads (``bench.sweep_worker
  audit-per-payment``): the account listed without a window or charges (up to 10,000), then
  one refunds call per succeeded PaymentIntent, in sequence. Only ``--audit-sample`` of those
  calls are made; the time for all of them is extrapolated from their measured rate (said so
  in the report).
"""

import time

from bench import shopdata
from bench.benchmarks.backlog import put_payment_intents, run_sweep_worker, start_stripe
from bench.report import log


def run(bench) -> dict:
    args = bench.args
    bench.reset()
    stripe = start_stripe(bench, "stripe_audit")
    env = {**bench.env, "STRIPE_API_BASE": stripe}
    log(f"audit-scale: {args.audit_orders} paid orders across the 48 h window")
    orders = shopdata.make_paid_orders(args.audit_orders, oldest_minutes=47 * 60, newest_minutes=10)
    tag = env["STRIPE_METADATA_TAG"]
    now = int(time.time())
    items = [
        {
            "id": f"pi_fake_{pk}x1500xeur",
            "amount": 1500,
            "currency": "eur",
            "status": "succeeded",
            "created": created + 1,
            "metadata": {"order_id": str(pk), "shop": tag},
        }
        for pk, created in orders
    ] + [
        {
            "id": f"pi_fake_old{i}x1500xeur",
            "amount": 1500,
            "currency": "eur",
            "status": "succeeded",
            "created": now - 72 * 3600 - i * 30,
            "metadata": {"order_id": str(10**9 + i), "shop": tag},
        }
        for i in range(args.old_payment_intents)
    ]
    put_payment_intents(stripe, items)
    out = {"orders": len(orders), "old_payment_intents": args.old_payment_intents}
    for key, mode in (("windowed", "audit"), ("per_payment", "audit-per-payment")):
        log(f"audit-scale: {key} ({mode})")
        out[key] = run_sweep_worker(bench, env, mode, "--sample", str(args.audit_sample))
    bench.stack.stop("stripe_audit")
    old = out["per_payment"]
    calls = max(old["refund_calls"], 1)
    old["refund_seconds_per_call"] = old["refund_seconds"] / calls
    old["extrapolated_seconds"] = (
        old["list_seconds"] + old["refund_seconds_per_call"] * old["succeeded"]
    )
    lists = old["requests"].get("GET /v1/payment_intents", 0)
    old["extrapolated_requests"] = lists + old["succeeded"]
    return out


def report(x: dict, args) -> None:
    new, old = x["windowed"], x["per_payment"]
    req = new["requests"]
    total = sum(v for k, v in req.items() if not k.startswith("status"))
    print(
        f"audit-scale: {x['orders']} paid orders in the window (+{x['old_payment_intents']} "
        f"older PaymentIntents outside it), Stripe fake at {args.stripe_rate:g}/s, "
        f"{args.stripe_latency_ms:g} ms a call"
    )
    print(
        f"  windowed   : {total} requests ({req.get('GET /v1/payment_intents', 0)} lists, "
        f"{req.get('GET /v1/refunds', 0)} refunds, {req.get('status 429', 0)} answered 429) "
        f"in {new['seconds']:.0f}s over {new['runs']} time-boxed run(s) {new['stopped']}; "
        f"{new['payment_intents_seen']} PaymentIntents, {new['orders_checked']} paid orders "
        f"checked, {new['broken_last_run']} broken"
    )
    print(
        f"  per-payment: {old['extrapolated_requests']} requests "
        f"({old['requests'].get('GET /v1/payment_intents', 0)} lists + {old['succeeded']} "
        f"refunds calls) in {old['extrapolated_seconds']:.0f}s — extrapolated: the lists and "
        f"{old['refund_calls']} refunds calls measured ({old['refund_seconds_per_call'] * 1000:.0f}"
        f" ms each, in sequence), the other {old['succeeded'] - old['refund_calls']} at that rate"
    )
    if new["seconds"]:
        print(
            f"             windowed / per-payment: requests "
            f"{total / max(old['extrapolated_requests'], 1):.3f}x, time "
            f"{new['seconds'] / max(old['extrapolated_seconds'], 1e-9):.3f}x"
        )
