"""Benchmarks: figures beside a ceiling measured in the same run, printed as ratios.

    .venv/bin/python -m bench.bench checkout     # orders/s, p50/p99 vs the database's own ceiling
    .venv/bin/python -m bench.bench checkout-latency  # gthread vs sync, Stripe at 0 and 300 ms
    .venv/bin/python -m bench.bench pending      # polls/s of the pending page vs a no-database view
    .venv/bin/python -m bench.bench reconciler   # 100,000 stale orders, 1 and 2 workers, memory
    .venv/bin/python -m bench.bench webhooks     # signed events/s ingested and applied
    .venv/bin/python -m bench.bench budget       # checkouts beside a sweep, 429s, with/without
    .venv/bin/python -m bench.bench backlog      # an outage's stale orders at 25 req/s, 300 ms
    .venv/bin/python -m bench.bench audit-scale  # the audit over 10,000 paid orders, 25 req/s
    .venv/bin/python -m bench.bench all

Everything runs on loopback against database ``shop_bench`` (``BENCH_DB``; created and
migrated here), gunicorn (``--web-workers`` sync workers) and ``bench.fast_stripe``, a
zero-latency, stateless Stripe fake. ``checkout-latency`` starts its own web servers: the
deployment of ``deploy/gunicorn.conf.py`` (gthread) and the sync workers, each against the
fake at 0 ms and at ``--stripe-latency-ms`` per call. Every loop is bounded in count and in
time.

This module is the command line: it starts the stack (``bench.benchmarks.context``), runs the
chosen benchmarks (one module each in ``bench/benchmarks/``), prints their figures and keeps
them in ``var/bench/results.json``.
"""

import argparse
import os
import sys

from bench.benchmarks import (
    audit_scale,
    backlog,
    budget,
    checkout,
    checkout_latency,
    pending_page,
    reconciler,
    webhooks,
)
from bench.benchmarks.context import Bench
from bench.report import framed, save_results

# By the name on the command line (and in results.json), in the report's order.
BENCHMARKS = {
    "checkout": checkout,
    "checkout-latency": checkout_latency,
    "pending": pending_page,
    "reconciler": reconciler,
    "webhooks": webhooks,
    "budget": budget,
    "backlog": backlog,
    "audit-scale": audit_scale,
}


def report(results: dict[str, dict], args) -> None:
    with framed("benchmarks"):
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
            f"checkout, pending, webhooks: gunicorn {args.web_workers} sync workers, "
            f"Stripe = bench.fast_stripe (zero latency)"
        )
        for name, benchmark in BENCHMARKS.items():
            if name in results:
                benchmark.report(results[name], args)
    save_results(results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--checkouts", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=5000)
    parser.add_argument(
        "--stale", type=int, default=100_000, help="stale orders for the reconciler"
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="reconciler batch size")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=100.0,
        help="also run the reconciler against a Stripe this slow (0: skip)",
    )
    parser.add_argument("--latency-orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    # checkout-latency
    parser.add_argument(
        "--stripe-latency-ms",
        type=float,
        default=300.0,
        help="checkout-latency: each Stripe call's latency in the slow phases",
    )
    parser.add_argument(
        "--latency-checkouts", type=int, default=1500, help="checkout-latency: timed per phase"
    )
    parser.add_argument(
        "--latency-concurrency",
        type=int,
        default=128,
        help="checkout-latency: customers at once (each sends its next checkout on an answer)",
    )
    parser.add_argument(
        "--gthread-workers", type=int, help="checkout-latency: override the deployment's workers"
    )
    parser.add_argument(
        "--web-threads", type=int, help="checkout-latency: override the deployment's threads"
    )
    parser.add_argument(
        "--deployments",
        default="gthread,gthread-nopool,sync",
        help="checkout-latency: which of gthread (deploy/gunicorn.conf.py), gthread-nopool, sync",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="checkout-latency: gthread's 0 ms / slow pairs"
    )
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=90,
        help="checkout-latency: bound on each phase's warm-up and timed load",
    )
    # budget
    parser.add_argument("--budget-rate", type=float, default=25.0, help="budget: Stripe's rate")
    parser.add_argument("--budget-latency-ms", type=float, default=300.0)
    parser.add_argument("--budget-seconds", type=float, default=30.0, help="budget: per phase")
    parser.add_argument("--sweepers", type=int, default=2, help="budget: background processes")
    parser.add_argument("--sweep-threads", type=int, default=8, help="budget: threads each")
    parser.add_argument("--customers", type=int, default=3, help="budget: customers at once")
    parser.add_argument(
        "--budget-backends", default="database", help="budget: database and/or redis, after off"
    )
    parser.add_argument("--budget-redis-url", default="redis://127.0.0.1:6379/14")
    # backlog, audit-scale: the rate-limited Stripe fake
    parser.add_argument(
        "--orders", type=int, default=2000, help="backlog: stale orders (100000: the target)"
    )
    parser.add_argument(
        "--baseline-orders",
        type=int,
        default=1000,
        help="backlog: stale orders for the per-order baseline (0: skip)",
    )
    parser.add_argument("--stripe-rate", type=float, default=25.0, help="requests/s, 429 over")
    parser.add_argument("--sweep-concurrency", type=int, default=6, help="backlog: threads")
    parser.add_argument("--shoppers", type=int, default=3, help="backlog: customers buying")
    parser.add_argument("--think-seconds", type=float, default=1.0, help="backlog: between buys")
    parser.add_argument("--audit-orders", type=int, default=10_000)
    parser.add_argument("--old-payment-intents", type=int, default=2000)
    parser.add_argument(
        "--audit-sample", type=int, default=300, help="audit-scale: baseline refunds calls made"
    )
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=1800, help="bound on each timed phase")
    args = parser.parse_args(argv)
    bench = Bench(args)
    results: dict[str, dict] = {}
    try:
        chosen = (
            ["checkout", "checkout-latency", "pending", "webhooks", "reconciler", "budget"]
            if "all" in args.what
            else args.what
        )
        # checkout-latency and the reconciler start the web servers they need, or none.
        bench.start(
            web=bool(
                set(chosen) - {"checkout-latency", "reconciler", "budget", "backlog", "audit-scale"}
            )
        )
        for what in chosen:
            results[what] = BENCHMARKS[what].run(bench)
        report(results, args)
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
