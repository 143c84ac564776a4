"""Backlog benchmark: the stale orders a database outage leaves, converged inside Stripe's rate
limit, while customers keep buying.

Stripe is ``bench.fast_stripe --stateful --rate-limit 25 --latency-ms 300`` (test mode's
25 requests/s, 300 ms a call, 429s as Stripe sends them). The backlog: nine in ten orders
only need reading (paid at Stripe, declined, abandoned 3-D Secure), one in ten never reached
Stripe and must be created and confirmed. Two phases, each on a fresh fake and a fresh
backlog, each with the same few shoppers checking out through gunicorn the whole time:

- ``per_order`` (the baseline, ``--baseline-orders``): the old read path, every order's
  PaymentIntent read on its own (``bench.sweep_worker reconcile-per-order``);
- ``bulk`` (``--orders``): the reconciler as scheduled (time-boxed runs, lists of
  ``created`` windows, 100 a request; ``bench.sweep_worker reconcile``).

Figures: time to converge all, the sweep's Stripe requests per converged order (read-only
vs create+confirm), 100,000 orders extrapolated from the rate measured (or measured, with
``--orders 100000``), the shoppers' checkout p50/p99 and the 429s they met.
"""

import json
import subprocess
import threading
import time
import urllib.request

from bench import shopdata, stack
from bench.measure import pct
from bench.report import log
from bench.stack import PY

SETTINGS = {
    # Past the benchmark's longest run: no order is given up (a cancel each) mid-sweep.
    "PAYMENTS_GIVE_UP_MINUTES": 240,
    "PAYMENTS_RECONCILE_BATCH": 500,
}


def start_stripe(bench, name: str) -> str:
    port = stack.free_port()
    bench.stack.start(
        name,
        [
            PY,
            "-m",
            "bench.fast_stripe",
            "--port",
            str(port),
            "--max-seconds",
            "7200",
            "--stateful",
            "--rate-limit",
            str(bench.args.stripe_rate),
            "--latency-ms",
            str(bench.args.stripe_latency_ms),
        ],
        bench.env,
        port=port,
    )
    return f"http://127.0.0.1:{port}"


def _http(method: str, url: str, body=None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def seed(stripe: str, backlog: list[tuple], tag: str) -> None:
    """Put the backlog's PaymentIntents at Stripe, as the outage left them."""
    errors = {
        "declined": {"code": "card_declined", "message": "Your card was declined."},
        "abandoned_3ds": {
            "code": "payment_intent_authentication_failure",
            "message": "The customer did not complete 3-D Secure.",
        },
    }
    items = [
        {
            "id": f"pi_fake_{pk}x1500xeur",
            "amount": 1500,
            "currency": "eur",
            "status": "succeeded" if kind == "paid" else "requires_payment_method",
            "created": created + 1,
            "metadata": {"order_id": str(pk), "shop": tag},
            "last_payment_error": errors.get(kind),
        }
        for pk, created, kind in backlog
        if kind != "never_reached_stripe"
    ]
    put_payment_intents(stripe, items)


def put_payment_intents(stripe: str, items: list[dict]) -> None:
    """Store PaymentIntents in the stateful fake, 10,000 a request."""
    for at in range(0, len(items), 10_000):
        _http("POST", f"{stripe}/_bench/payment_intents", items[at : at + 10_000])


def run_sweep_worker(bench, env: dict, mode: str, *options: str) -> dict:
    """One ``bench.sweep_worker`` run (its time-boxed runs one after another); its figures."""
    args = bench.args
    proc = subprocess.run(
        [PY, "-m", "bench.sweep_worker", mode, str(args.max_seconds), *options],
        cwd=stack.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=args.max_seconds + 120,
    )
    if proc.returncode:
        raise RuntimeError(f"sweep worker failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Shoppers:
    """A few customers buying through the web server the whole time, one checkout at a time."""

    def __init__(self, web: str, count: int, think: float, product):
        self.web, self.count, self.think, self.product = web, count, think, product
        self.latencies: list[float] = []
        self.statuses: dict = {}
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._shop, args=(i,), daemon=True) for i in range(count)
        ]
        self.lock = threading.Lock()

    def _shop(self, i: int) -> None:
        import requests

        from bench.browser import open_checkout

        n = 0
        while not self.stop.is_set():
            n += 1
            with requests.Session() as http:

                def send(method, path, expect=None, **kwargs):
                    return http.request(
                        method, self.web + path, timeout=60, allow_redirects=False, **kwargs
                    )

                try:
                    form = open_checkout(http, send, self.product)
                    form.update(
                        {"email": f"shopper-{i}-{n}@example.com", "payment_method_id": "pm_x"}
                    )
                    started = time.perf_counter()
                    answer = send("POST", "/checkout/", data=form)
                    elapsed = time.perf_counter() - started
                    status = answer.status_code
                except requests.RequestException as exc:
                    elapsed, status = None, type(exc).__name__
            with self.lock:
                if elapsed is not None:
                    self.latencies.append(elapsed)
                self.statuses[status] = self.statuses.get(status, 0) + 1
            self.stop.wait(self.think)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)

    def figures(self) -> dict:
        from orders.models import Order

        orders = Order.objects.filter(email__startswith="shopper-")
        return {
            "checkouts": len(self.latencies),
            "p50_ms": pct(self.latencies, 0.50) * 1000 if self.latencies else None,
            "p99_ms": pct(self.latencies, 0.99) * 1000 if self.latencies else None,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "paid": orders.filter(status="paid").count(),
            # A checkout whose Stripe call failed (a 429) leaves its order pending, backed off.
            "held_up": orders.exclude(last_error="").count(),
        }


def run_phase(bench, name: str, mode: str, count: int) -> dict:
    args = bench.args
    bench.reset()
    stripe = start_stripe(bench, f"stripe_{name}")
    env = {
        **bench.env,
        **{k: str(v) for k, v in SETTINGS.items()},
        "STRIPE_API_BASE": stripe,
        "PAYMENTS_RECONCILE_CONCURRENCY": str(args.sweep_concurrency),
    }
    web_port = stack.free_port()
    bench.stack.start(
        f"web_{name}", stack.gunicorn_argv(web_port, workers=args.web_workers), env, port=web_port
    )
    log(f"backlog/{name}: {count} stale orders, as an outage leaves them")
    backlog = shopdata.make_backlog(count, oldest_minutes=40, newest_minutes=10)
    seed(stripe, backlog, env["STRIPE_METADATA_TAG"])
    kinds: dict[str, int] = {}
    for _, _, kind in backlog:
        kinds[kind] = kinds.get(kind, 0) + 1
    product = shopdata.stocked_product("backlog-mug", "Backlog mug", 10_000_000)
    _http("DELETE", f"{stripe}/_bench/stats")
    log(f"backlog/{name}: sweeping ({mode}) with {args.shoppers} shoppers buying meanwhile")
    with Shoppers(
        f"http://127.0.0.1:{web_port}", args.shoppers, args.think_seconds, product
    ) as shop:
        sweep = run_sweep_worker(bench, env, mode, "--prefix", "K")
    at_stripe = _http("GET", f"{stripe}/_bench/stats")
    bench.stack.stop(f"web_{name}")
    bench.stack.stop(f"stripe_{name}")
    requests = sweep["requests"]
    writes = requests.get("POST /v1/payment_intents", 0) + requests.get(
        "POST /v1/payment_intents/{id}/confirm", 0
    )
    reads = requests.get("GET /v1/payment_intents", 0) + requests.get(
        "GET /v1/payment_intents/{id}", 0
    )
    read_only = count - kinds.get("never_reached_stripe", 0)
    shoppers = shop.figures()
    sweep_429 = requests.get("status 429", 0)
    out = {
        "orders": count,
        "kinds": kinds,
        "mode": mode,
        "seconds": sweep["seconds"],
        "left_pending": sweep["left_pending"],
        "sweep": sweep,
        "reads_per_read_only_order": reads / read_only,
        "writes_per_created_order": writes / max(kinds.get("never_reached_stripe", 0), 1),
        "requests_per_order": sum(v for k, v in requests.items() if not k.startswith("status"))
        / count,
        "sweep_429": sweep_429,
        "stripe_total": at_stripe.get("requests", 0),
        "stripe_429": at_stripe.get("429", 0),
        "shopper_429": at_stripe.get("429", 0) - sweep_429,
        "shoppers": shoppers,
        "orders_per_s": count / sweep["seconds"],
    }
    out["extrapolated_100k_minutes"] = 100_000 / out["orders_per_s"] / 60
    log(
        f"backlog/{name}: {count} orders in {sweep['seconds']:.0f}s; "
        f"{out['reads_per_read_only_order']:.3f} reads per read-only order"
    )
    return out


def run(bench) -> dict:
    args = bench.args
    out = {}
    if args.baseline_orders:
        out["per_order"] = run_phase(
            bench, "per_order", "reconcile-per-order", args.baseline_orders
        )
    out["bulk"] = run_phase(bench, "bulk", "reconcile", args.orders)
    return out


def report(runs: dict, args) -> None:
    print(
        f"backlog    : Stripe fake at {args.stripe_rate:g} requests/s, "
        f"{args.stripe_latency_ms:g} ms a call; sweep {args.sweep_concurrency} threads, batches of "
        f"{SETTINGS['PAYMENTS_RECONCILE_BATCH']}; {args.shoppers} shoppers buying meanwhile"
    )
    for key, x in runs.items():
        s = x["shoppers"]
        measured = "measured" if x["orders"] >= 100_000 else "extrapolated"
        print(
            f"  {key:9}: {x['orders']} orders ({x['kinds']}) converged in {x['seconds']:.0f}s "
            f"= {x['orders_per_s']:.1f} orders/s (left pending {x['left_pending']}); "
            f"100,000 {measured}: {x['extrapolated_100k_minutes']:.0f} min"
        )
        print(
            f"             Stripe requests: {x['reads_per_read_only_order']:.3f} reads per "
            f"read-only order, {x['writes_per_created_order']:.2f} writes per created order, "
            f"{x['requests_per_order']:.3f} per order in all; sweep 429s {x['sweep_429']}"
        )
        p50 = f"{s['p50_ms']:.0f}" if s["p50_ms"] is not None else "-"
        p99 = f"{s['p99_ms']:.0f}" if s["p99_ms"] is not None else "-"
        print(
            f"             shoppers: {s['checkouts']} checkouts, p50 {p50} ms, p99 {p99} ms, "
            f"429s at Stripe {x['shopper_429']}, checkouts held up {s['held_up']}, "
            f"answers {s['statuses']}"
        )
    base, bulk = runs.get("per_order"), runs.get("bulk")
    if base and bulk:
        print(
            f"             bulk / per-order: reads per read-only order "
            f"{bulk['reads_per_read_only_order']:.3f} vs {base['reads_per_read_only_order']:.3f}; "
            f"orders/s {bulk['orders_per_s'] / base['orders_per_s']:.1f}x"
        )
