"""Reconciler benchmark: stale pending orders converged by 1 and 2 workers, then against a
slow Stripe.

Rows/s, what is left pending, and each worker's memory batch by batch
(``bench.reconcile_worker``).
"""

import json
import subprocess
import time

from bench import shopdata, stack
from bench.convergence import pending_orders
from bench.report import log
from bench.stack import PY


def run_reconcilers(bench, workers: int, **env_overrides) -> dict:
    """Run ``workers`` reconciler processes at once until nothing is due; their figures together."""
    env = {**bench.env, **{k: str(v) for k, v in env_overrides.items()}}
    procs = [
        subprocess.Popen(
            [PY, "-m", "bench.reconcile_worker", str(bench.args.batch)],
            cwd=stack.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    started = time.monotonic()
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=bench.args.max_seconds)
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    wall = time.monotonic() - started
    examined = sum(o["examined"] for o in outputs)
    left = pending_orders()
    return {
        "workers": workers,
        "concurrency": int(env.get("PAYMENTS_RECONCILE_CONCURRENCY", 1)),
        "stripe_latency_ms": env_overrides.get("latency_ms", 0),
        "examined": examined,
        "left_pending": left,
        "seconds": wall,
        "rows_per_s": examined / wall,
        "outcomes": [o["outcomes"] for o in outputs],
        "errors": [e for o in outputs for e in o["errors"]],
        "peak_rss_mb": max(o["peak_rss_kb"] for o in outputs) / 1024,
        "rss_mb_first_last": [
            (o["rss_samples_kb"][0][1] / 1024, o["rss_samples_kb"][-1][1] / 1024)
            for o in outputs
            if o["rss_samples_kb"]
        ],
        "rss_samples": outputs[0]["rss_samples_kb"],
    }


def run(bench) -> dict:
    args = bench.args
    out = {}
    runs = [("1w", args.stale, 1, 1, None), ("2w", args.stale, 2, 1, None)]
    if args.latency_ms:
        # Stripe's real round trip: one order at a time, a worker does 1/latency orders per second.
        slow = stack.free_port()
        bench.stack.start(
            "slow_stripe",
            [
                PY,
                "-m",
                "bench.fast_stripe",
                "--port",
                str(slow),
                "--max-seconds",
                "7200",
                "--latency-ms",
                str(args.latency_ms),
            ],
            bench.env,
            port=slow,
        )
        n = args.latency_orders
        runs += [
            ("slow_c1", n, 1, 1, slow),
            (f"slow_c{args.concurrency}", n, 1, args.concurrency, slow),
        ]
    for key, count, workers, concurrency, port in runs:
        bench.reset()
        log(f"reconciler: inserting {count} stale pending orders")
        shopdata.make_stale_orders(count)
        latency = f", Stripe latency {args.latency_ms:.0f} ms" if port else ""
        log(
            f"reconciler: converging them with {workers} worker(s) x {concurrency} "
            f"thread(s){latency}"
        )
        overrides = {"PAYMENTS_RECONCILE_CONCURRENCY": concurrency}
        if port:
            overrides.update(STRIPE_API_BASE=f"http://127.0.0.1:{port}", latency_ms=args.latency_ms)
        out[key] = run_reconcilers(bench, workers, **overrides)
        log(
            f"reconciler: {out[key]['rows_per_s']:.0f} rows/s, "
            f"peak RSS {out[key]['peak_rss_mb']:.0f} MB"
        )
    return out


def report(runs: dict, args) -> None:
    for x in runs.values():
        first_last = ", ".join(f"{a:.0f}->{b:.0f} MB" for a, b in x["rss_mb_first_last"])
        print(
            f"reconciler : {x['workers']} worker(s) x {x['concurrency']} thread(s), Stripe latency "
            f"{x['stripe_latency_ms']} ms: {x['examined']} stale orders converged in "
            f"{x['seconds']:.0f}s = {x['rows_per_s']:.0f} rows/s; "
            f"left pending {x['left_pending']}; "
            f"RSS first->last batch {first_last}; peak {x['peak_rss_mb']:.0f} MB"
        )
    one, two = runs.get("1w"), runs.get("2w")
    if one and two:
        print(f"             two workers / one: {two['rows_per_s'] / one['rows_per_s']:.2f}x")
    slow = [x for k, x in runs.items() if k.startswith("slow_")]
    if len(slow) == 2:
        print(
            f"             with Stripe latency, {slow[1]['concurrency']} threads / 1: "
            f"{slow[1]['rows_per_s'] / slow[0]['rows_per_s']:.1f}x "
            f"(ceiling 1 / latency = {1000 / slow[0]['stripe_latency_ms']:.0f} rows/s per thread)"
        )
