"""Checkout under Stripe's latency: the deployment (``deploy/gunicorn.conf.py``: gthread
workers sharing a pool of connections) at 0 ms and at ``--stripe-latency-ms`` per Stripe
call, beside the same threads without the pool and the sync workers, all in one run.

Each phase gets its own gunicorn pointed at a Stripe fake that answers every call (the
create and the confirm alike) after 0 ms or after the latency, and starts from emptied
tables. Customers are prepared untimed (a cart and a checkout form each); a warm-up of
twice the requests the server works on at once (at most ``2 x --latency-concurrency``)
starts its threads and connections; then ``--latency-checkouts`` POST /checkout/,
``--latency-concurrency`` at a time, each customer sending its next checkout as soon as its
last one answered (a closed loop), bounded by ``--phase-seconds``. Orders/s counts the 302s
(order placed) over the phase's wall time; the orders that ended ``paid`` are counted beside
them.
"""

import os
import runpy

from bench import measure, stack
from bench.benchmarks.checkout import prepare_checkouts, stocked_products
from bench.benchmarks.context import DB_NAME
from bench.measure import pct, self_cpu_seconds
from bench.report import log
from bench.stack import GUNICORN, PY, ROOT

DEPLOYMENT_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
# The connections a gthread worker may hold without the pool: one per thread, and 2 x 32
# is about what fits in PostgreSQL's default 100 beside the rest of a shared server.
NO_POOL_THREADS = 32


def deployment_shape(args) -> dict:
    """Workers, threads and pool size of the deployment, as its config file sets them."""
    config = runpy.run_path(str(DEPLOYMENT_CONFIG))
    return {
        "workers": args.gthread_workers or config["workers"],
        "threads": args.web_threads or config["threads"],
        "pool": config["pool_size"],
    }


def web_server(deployment: str, port: int, args) -> tuple[list[str], dict]:
    """gunicorn's argv and extra environment for one of the compared deployments.

    - ``gthread``: the README's deployment, ``deploy/gunicorn.conf.py`` as it is (threads
      sharing a pool of connections per worker);
    - ``gthread-nopool``: the same file without the pool, ``NO_POOL_THREADS`` threads per
      worker each holding its own connection;
    - ``sync``: ``--web-workers`` sync workers, the deployment the README had before.
    """
    if deployment == "sync":
        return stack.gunicorn_argv(port, workers=args.web_workers), {"DB_POOL_SIZE": "0"}
    argv = [GUNICORN, "-c", str(DEPLOYMENT_CONFIG), "--bind", f"127.0.0.1:{port}"]
    if args.gthread_workers:
        argv += ["--workers", str(args.gthread_workers)]
    if deployment == "gthread-nopool":
        return argv + ["--threads", str(NO_POOL_THREADS)], {"DB_POOL_SIZE": "0"}
    if args.web_threads:
        argv += ["--threads", str(args.web_threads)]
    return argv, {}


def capacity(deployment: str, args) -> int:
    """Requests the server works on at once: its workers' threads (one each when sync)."""
    if deployment == "sync":
        return args.web_workers
    shape = deployment_shape(args)
    threads = NO_POOL_THREADS if deployment == "gthread-nopool" else shape["threads"]
    return shape["workers"] * threads


def describe(deployment: str, shape: dict, args) -> str:
    if deployment == "sync":
        return f"sync, {args.web_workers} workers"
    if deployment == "gthread-nopool":
        return f"gthread {shape['workers']}x{NO_POOL_THREADS}, no pool"
    return f"gthread {shape['workers']}x{shape['threads']}, pool {shape['pool']}/worker"


def start_slow_stripe(bench, latency_ms: float) -> None:
    port = stack.free_port()
    bench.stack.start(
        "slow_stripe",
        [
            PY,
            "-m",
            "bench.fast_stripe",
            "--port",
            str(port),
            "--max-seconds",
            "7200",
            "--latency-ms",
            str(latency_ms),
        ],
        bench.env,
        port=port,
    )
    bench.stripe_ports["slow_stripe"] = port


def run_phase(bench, *, deployment: str, latency_ms: float, stripe: str) -> dict:
    """One gunicorn, one Stripe latency: warm-up, then the timed checkouts."""
    from orders.models import Order, OrderStatus

    args = bench.args
    c = args.latency_concurrency
    # Enough to start every thread (and its connection) the server has, twice over.
    n, warmup = args.latency_checkouts, min(2 * c, 2 * capacity(deployment, args))
    bench.reset()
    products = stocked_products(c)
    port = stack.free_port()
    web_base = f"http://127.0.0.1:{port}"
    argv, extra_env = web_server(deployment, port, args)
    name = f"web_{deployment}_{latency_ms:.0f}ms"
    stripe_base = f"http://127.0.0.1:{bench.stripe_ports[stripe]}"
    env = {**bench.env, **extra_env, "STRIPE_API_BASE": stripe_base, "SITE_URL": web_base}
    web = bench.stack.start(name, argv, env, port=port)
    try:
        log(f"{name}: preparing {warmup} + {n} customers (cart + checkout form, untimed)")
        prepared = prepare_checkouts(web_base, warmup + n, products)
        log(f"{name}: warm-up, {warmup} checkouts {c} at a time (untimed)")
        _, warm_statuses, _ = bench.fire(prepared[:warmup], c, seconds=args.phase_seconds)
        log(f"{name}: {n} POST /checkout/, {c} at a time, Stripe {latency_ms:.0f} ms per call")
        roles = {"web (gunicorn)": web.pid, "Stripe fake": bench.stack.procs[stripe].pid}
        before, load_cpu = measure.cpu_counters(roles, DB_NAME), self_cpu_seconds()
        latencies, statuses, wall = bench.fire(prepared[warmup:], c, seconds=args.phase_seconds)
        load_cpu = self_cpu_seconds() - load_cpu
        cpu = {
            **measure.cpu_spent(before, measure.cpu_counters(roles, DB_NAME)),
            "load generator": load_cpu,
        }
        placed = statuses[302]
        paid = Order.objects.filter(status=OrderStatus.PAID).count()
        result = {
            "deployment": deployment,
            "stripe_latency_ms": latency_ms,
            "concurrency": c,
            "checkouts_sent": sum(statuses.values()),
            "statuses": dict(statuses),
            "paid": paid,
            "placed_with_warmup": placed + warm_statuses[302],
            "seconds": wall,
            "orders_per_s": placed / wall,
            "p50_ms": pct(latencies, 0.5) * 1000,
            "p99_ms": pct(latencies, 0.99) * 1000,
            "cpu_ms_per_order": {
                role: seconds / max(placed, 1) * 1000 for role, seconds in cpu.items()
            },
        }
        log(
            f"{name}: {result['orders_per_s']:.1f} orders/s, p50 {result['p50_ms']:.0f} ms, "
            f"p99 {result['p99_ms']:.0f} ms; {paid} paid of {result['placed_with_warmup']} placed"
        )
        return result
    finally:
        bench.stack.stop(name)


def run(bench) -> dict:
    args = bench.args
    latency = args.stripe_latency_ms
    shape = deployment_shape(args)
    deployments = [d.strip() for d in args.deployments.split(",") if d.strip()]
    start_slow_stripe(bench, latency)
    log(
        f"checkout-latency: {', '.join(describe(d, shape, args) for d in deployments)}; "
        f"Stripe at 0 and {latency:.0f} ms per call; {os.cpu_count()} cores"
    )
    phases = {}
    for deployment in deployments:
        # The README's deployment may run several rounds; each round is a 0 ms / slow pair.
        rounds = args.rounds if deployment == "gthread" else 1
        for round_ in range(rounds):
            suffix = f"_r{round_ + 1}" if rounds > 1 else ""
            for ms, stripe in ((0.0, "fast_stripe"), (latency, "slow_stripe")):
                phase = run_phase(bench, deployment=deployment, latency_ms=ms, stripe=stripe)
                phase["shape"] = describe(deployment, shape, args)
                phases[f"{deployment}_{ms:.0f}ms{suffix}"] = phase
    bench.stack.stop("slow_stripe")
    return {
        "gthread": shape,
        "sync_workers": args.web_workers,
        "stripe_latency_ms": latency,
        "phases": phases,
        "ratios": ratios(phases, deployments, latency),
    }


def _mean_rate(phases: dict, deployment: str, ms: float) -> float | None:
    rates = [
        p["orders_per_s"]
        for p in phases.values()
        if p["deployment"] == deployment and p["stripe_latency_ms"] == ms
    ]
    return sum(rates) / len(rates) if rates else None


def ratios(phases: dict, deployments: list[str], latency: float) -> dict:
    """Each deployment's throughput at the latency over its own at 0 ms (means of rounds),
    and each one's at 0 ms over the sync workers' at 0 ms."""
    out = {}
    sync_fast = _mean_rate(phases, "sync", 0.0)
    for d in deployments:
        fast, slow = _mean_rate(phases, d, 0.0), _mean_rate(phases, d, latency)
        out[f"{d}: {latency:.0f} ms / 0 ms"] = slow / fast
        if sync_fast and d != "sync":
            out[f"{d} / sync, both at 0 ms"] = fast / sync_fast
    return out


def report(x: dict, args) -> None:
    latency = x["stripe_latency_ms"]
    first = next(iter(x["phases"].values()))
    print(
        f"checkout-latency: the Stripe fake answers every call (create, confirm) after 0 ms or "
        f"{latency:.0f} ms; {first['concurrency']} customers at once"
    )
    for key, p in x["phases"].items():
        cpu = p["cpu_ms_per_order"]
        print(
            f"  {key:<24} {p['shape']:<30} {p['orders_per_s']:6.1f} orders/s, "
            f"p50 {p['p50_ms']:5.0f} ms, p99 {p['p99_ms']:5.0f} ms "
            f"({p['paid']} paid of {p['placed_with_warmup']} placed, statuses {p['statuses']}); "
            f"CPU per order: web {cpu['web (gunicorn)']:.1f} ms, postgres {cpu['postgres']:.1f} ms"
        )
    for name, value in x["ratios"].items():
        target = " (target >= 0.9)" if name.startswith("gthread:") else ""
        print(f"  {name}: {value:.2f}{target}")
