"""Benchmarks: figures beside a ceiling measured in the same run, printed as ratios.

    .venv/bin/python -m bench.bench checkout     # orders/s, p50/p99 vs the database's own ceiling
    .venv/bin/python -m bench.bench pending      # polls/s of the pending page vs a no-database view
    .venv/bin/python -m bench.bench reconciler   # 100,000 stale orders, 1 and 2 workers, memory
    .venv/bin/python -m bench.bench webhooks     # signed events/s ingested and applied
    .venv/bin/python -m bench.bench all

Everything runs on loopback against database ``shop_bench`` (``BENCH_DB``; created and
migrated here), gunicorn (``--web-workers`` sync workers) and ``bench.fast_stripe``, a
zero-latency, stateless Stripe fake. Every loop is bounded in count and in time.

This module is the command line: it starts the stack (``bench.benchmarks.context``), runs the
chosen benchmarks (one module each in ``bench/benchmarks/``), prints their figures and keeps
them in ``var/bench/results.json``.
"""

import argparse
import os
import sys

from bench.benchmarks import checkout, pending_page, reconciler, webhooks
from bench.benchmarks.context import Bench
from bench.report import framed, save_results

# By the name on the command line (and in results.json), in the report's order.
BENCHMARKS = {
    "checkout": checkout,
    "pending": pending_page,
    "reconciler": reconciler,
    "webhooks": webhooks,
}


def report(results: dict[str, dict], args) -> None:
    with framed("benchmarks"):
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
            f"gunicorn {args.web_workers} sync workers; Stripe = bench.fast_stripe (zero latency)"
        )
        for name, benchmark in BENCHMARKS.items():
            if name in results:
                benchmark.report(results[name], args)
    save_results(results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", nargs="+", choices=["checkout", "pending", "reconciler", "webhooks", "all"]
    )
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
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=1800, help="bound on each timed phase")
    args = parser.parse_args(argv)
    bench = Bench(args)
    results: dict[str, dict] = {}
    try:
        chosen = (
            ["checkout", "pending", "webhooks", "reconciler"] if "all" in args.what else args.what
        )
        bench.start(web=chosen != ["reconciler"])
        for what in chosen:
            results[what] = BENCHMARKS[what].run(bench)
        report(results, args)
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
