"""Budget benchmark: customers' checkouts while sweep-like background work saturates a
rate-limited Stripe, without and with the shared Stripe request budget, in one run.

Stripe is ``bench.fast_stripe --rate-limit``: one account-wide token bucket (``--budget-rate``
requests/s, 429 ``rate_limit`` past it, answered after 50 ms) and ``--budget-latency-ms`` per
call. Customers' calls are its POSTs (create, confirm), the background's its GETs (reads). In
each phase, ``--sweepers`` processes of ``--sweep-threads`` threads each read PaymentIntents as
``reconcile`` work (``bench.benchmarks.budget_sweeper``, as the reconciler reads stale orders)
for the whole phase; two seconds in, customers check out through gunicorn (``--web-workers``
sync workers), ``--customers`` at a time, each sending the next on an answer, for
``--budget-seconds`` at most. Phases: the baseline (the same customers with no background work,
budget on), ``STRIPE_BUDGET_BACKEND=off`` (what the shop did before), then each of
``--budget-backends``; every process of a phase shares one budget of its own.

Reported per phase: the customers' checkouts (placed, paid at once, left pending because a
call was refused), their Stripe calls answered 429, checkout p50/p99; the background's reads
and 429s; the requests/s Stripe accepted and the 429s/s it answered.
"""

import json
import os
import subprocess
import time

import requests

from bench import stack
from bench.benchmarks.checkout import prepare_checkouts, stocked_products
from bench.measure import pct
from bench.report import log
from bench.stack import PY, ROOT


def _ports(bench) -> tuple[int, int]:
    """The fake's and the web server's ports: ``BENCH_BUDGET_PORT`` and the next, or free ones."""
    base = int(os.environ.get("BENCH_BUDGET_PORT", "0"))
    return (base, base + 1) if base else (stack.free_port(), stack.free_port())


def run_phase(bench, *, backend: str, sweepers: int, stripe_base: str, web_port: int) -> dict:
    from orders.models import Order, OrderStatus

    args = bench.args
    bench.reset()
    products = stocked_products(2)
    web_base = f"http://127.0.0.1:{web_port}"
    env = {
        **bench.env,
        "STRIPE_API_BASE": stripe_base,
        "SITE_URL": web_base,
        "STRIPE_BUDGET_BACKEND": backend,
        "STRIPE_RATE_LIMIT_PER_SECOND": str(args.budget_rate),
        # A budget of the phase's own: nothing carried over from the last phase.
        "STRIPE_BUDGET_NAME": f"bench-{backend}-{time.time():.0f}",
    }
    if backend == "redis":
        env["STRIPE_BUDGET_REDIS_URL"] = args.budget_redis_url
    name = f"web_budget_{backend}"
    bench.stack.start(
        name, stack.gunicorn_argv(web_port, workers=args.web_workers), env, port=web_port
    )
    procs: list[subprocess.Popen] = []
    try:
        n = args.customers * int(args.budget_seconds * 4)  # more than a phase can send
        log(f"{name}: preparing {n} customers (cart + checkout form, untimed)")
        prepared = prepare_checkouts(web_base, n, products)
        start_at = time.time() + 4.0  # the sweepers start Django meanwhile
        sweep_seconds = args.budget_seconds + 4.0
        for _ in range(sweepers):
            procs.append(
                subprocess.Popen(
                    [
                        PY,
                        "-m",
                        "bench.benchmarks.budget_sweeper",
                        "--threads",
                        str(args.sweep_threads),
                        "--seconds",
                        str(sweep_seconds),
                        "--start-at",
                        str(start_at),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(max(0.0, start_at - time.time()))
        requests.delete(f"{stripe_base}/_bench/stats", timeout=5)  # counted from the sweep's start
        time.sleep(2.0)
        log(
            f"{name}: {sweepers} x {args.sweep_threads} sweep threads running; customers "
            f"check out {args.customers} at a time for {args.budget_seconds:.0f} s"
        )
        latencies, statuses, wall = bench.fire(
            prepared, args.customers, seconds=args.budget_seconds
        )
        at_stripe = requests.get(f"{stripe_base}/_bench/stats", timeout=5).json()
        # Customers create and confirm (POST); the sweep reads (GET).
        stats = {
            "seconds": at_stripe["seconds"],
            "customer requests": at_stripe.get("POST requests", 0),
            "customer 429": at_stripe.get("POST 429", 0),
            "background requests": at_stripe.get("GET requests", 0),
            "background 429": at_stripe.get("GET 429", 0),
        }
        swept: dict[str, int] = {}
        for proc in procs:
            out, _ = proc.communicate(timeout=sweep_seconds + 60)
            for key, value in json.loads(out.decode().strip().splitlines()[-1]).items():
                swept[key] = swept.get(key, 0) + value
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        bench.stack.stop(name)
    orders = Order.objects.all()
    placed = orders.count()
    paid = orders.filter(status=OrderStatus.PAID).count()
    seconds = stats["seconds"]
    requests_total = stats.get("customer requests", 0) + stats.get("background requests", 0)
    limited_total = stats.get("customer 429", 0) + stats.get("background 429", 0)
    return {
        "backend": backend,
        "sweepers": sweepers,
        "checkouts_sent": sum(statuses.values()),
        "statuses": dict(statuses),
        "placed": placed,
        "paid": paid,
        "left_pending": placed - paid,
        "checkouts_per_s": statuses.get(302, 0) / wall,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "customer_requests": stats.get("customer requests", 0),
        "customer_429": stats.get("customer 429", 0),
        "background_requests": stats.get("background requests", 0),
        "background_429": stats.get("background 429", 0),
        "background_reads": swept.get("read", 0),
        "background_refused_by_budget": swept.get("no token", 0),
        "accepted_per_s": (requests_total - limited_total) / seconds,
        "limited_per_s": limited_total / seconds,
        "seconds": seconds,
    }


def run(bench) -> dict:
    args = bench.args
    stripe_port, web_port = _ports(bench)
    bench.stack.start(
        "rate_limited_stripe",
        [
            PY,
            "-m",
            "bench.fast_stripe",
            "--port",
            str(stripe_port),
            "--rate-limit",
            str(args.budget_rate),
            "--latency-ms",
            str(args.budget_latency_ms),
            "--limited-latency-ms",
            "50",
            "--max-seconds",
            "3600",
        ],
        bench.env,
        port=stripe_port,
    )
    stripe_base = f"http://127.0.0.1:{stripe_port}"
    phases = []
    try:
        # The baseline: the same customers with no background work at all.
        plan = [("database", 0), ("off", args.sweepers)]
        plan += [(backend, args.sweepers) for backend in args.budget_backends.split(",")]
        for backend, sweepers in plan:
            phases.append(
                run_phase(
                    bench,
                    backend=backend,
                    sweepers=sweepers,
                    stripe_base=stripe_base,
                    web_port=web_port,
                )
            )
    finally:
        bench.stack.stop("rate_limited_stripe")
    return {
        "stripe_rate": args.budget_rate,
        "stripe_latency_ms": args.budget_latency_ms,
        "sweepers": args.sweepers,
        "sweep_threads": args.sweep_threads,
        "customers": args.customers,
        "web_workers": args.web_workers,
        "phases": phases,
    }


def report(x: dict, args) -> None:
    print(
        f"budget     : Stripe fake at {x['stripe_rate']:g} requests/s (429 past it), "
        f"{x['stripe_latency_ms']:.0f} ms per call; background {x['sweepers']} processes x "
        f"{x['sweep_threads']} threads reading as `reconcile`; customers {x['customers']} at "
        f"a time through gunicorn ({x['web_workers']} sync workers)"
    )
    for p in x["phases"]:
        label = "no budget" if p["backend"] == "off" else f"budget ({p['backend']})"
        if not p["sweepers"]:
            label = "no sweep (baseline)"
        print(
            f"  {label:<18}: customers {p['checkouts_per_s']:.2f} checkouts/s, p50 "
            f"{p['p50_ms']:.0f} ms, p99 {p['p99_ms']:.0f} ms; {p['placed']} placed, "
            f"{p['paid']} paid at once, {p['left_pending']} left pending; "
            f"{p['customer_429']} of their {p['customer_requests']} Stripe calls answered 429"
        )
        print(
            f"  {'':<18}  background: {p['background_requests']} requests, "
            f"{p['background_429']} answered 429, {p['background_refused_by_budget']} held "
            f"back by the budget; Stripe accepted {p['accepted_per_s']:.1f} requests/s and "
            f"answered {p['limited_per_s']:.1f} 429s/s over {p['seconds']:.0f} s"
        )
