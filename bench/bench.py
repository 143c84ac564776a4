"""Benchmarks: figures beside a ceiling measured in the same run, printed as ratios.

    .venv/bin/python -m bench.bench checkout     # orders/s, p50/p99 vs the database's own ceiling
    .venv/bin/python -m bench.bench pending      # polls/s of the pending page vs a no-database view
    .venv/bin/python -m bench.bench reconciler   # 100,000 stale orders, 1 and 2 workers, memory
    .venv/bin/python -m bench.bench webhooks     # signed events/s ingested and applied
    .venv/bin/python -m bench.bench all

Everything runs on loopback against database ``shop_bench`` (``BENCH_DB``; created and migrated here),
gunicorn (``--web-workers`` sync workers) and ``bench.fast_stripe``, a zero-latency,
stateless Stripe fake. Every loop is bounded in count and in time.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

from bench import stack
from bench.forms import hidden_fields
from bench.stack import PY, Stack

# BENCH_DB: another database for a second checkout of the repo running its own benchmarks.
DB_NAME = os.environ.get("BENCH_DB", "shop_bench")
TAG = "convergent-shop-bench"
WEBHOOK_SECRET = "whsec_bench"


TICKS = os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    """CPU time of this process, all threads (the load generator, or the ceiling's clients)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


class Bench:
    def __init__(self, args):
        self.args = args
        self.stack = Stack("bench")
        self.ports = {name: stack.free_port() for name in ("stripe", "web")}
        self.stripe_base = f"http://127.0.0.1:{self.ports['stripe']}"
        self.web_base = f"http://127.0.0.1:{self.ports['web']}"
        self.env = stack.base_env(
            DJANGO_SETTINGS_MODULE="bench.settings",
            DATABASE_URL=f"{stack.PG_ADMIN_URL}/{DB_NAME}",
            STRIPE_API_BASE=self.stripe_base,
            SITE_URL=self.web_base,
            STRIPE_METADATA_TAG=TAG,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
            # Web workers keep their connections through a run, so that the PostgreSQL
            # backends whose CPU is counted are the ones that served it (default: 60 s).
            DB_CONN_MAX_AGE="900",
        )
        self.results: dict[str, dict] = {}

    # --- set-up ----------------------------------------------------------------------------

    def start(self, *, web: bool = True) -> None:
        stack.ensure_database(DB_NAME, self.env, log=log)
        stack.setup_django(self.env)
        self.reset()
        self.stack.start("fast_stripe", [PY, "-m", "bench.fast_stripe", "--port", str(self.ports["stripe"]),
                                         "--max-seconds", "7200"], self.env, port=self.ports["stripe"])
        if web:
            self.stack.start("web", stack.gunicorn_argv(self.ports["web"], workers=self.args.web_workers),
                             self.env, port=self.ports["web"])

    def reset(self) -> None:
        from django.db import connection

        tables = ["orders_orderevent", "orders_outboxmessage", "orders_orderline", "orders_order",
                  "orders_unmatchedpaymentevent", "payments_reconcilerrun", "django_q_task", "django_q_ormq",
                  "django_session", "djstripe_event", "djstripe_webhookeventtrigger", "djstripe_paymentintent"]
        existing = set(connection.introspection.table_names())
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE " + ", ".join(t for t in tables if t in existing) + " CASCADE")
            cursor.execute("VACUUM ANALYZE orders_order")

    def products(self, count: int):
        from shop.models import Product

        return [
            Product.objects.update_or_create(
                slug=f"bench-{i}", defaults={"name": f"Bench mug {i}", "price": 1500, "currency": "eur",
                                             "stock": 10_000_000, "is_active": True})[0]
            for i in range(count)
        ]

    def stop(self) -> None:
        self.stack.stop_all()

    # --- HTTP load ------------------------------------------------------------------------

    async def _fire(self, requests_: list, concurrency: int, *, seconds: float) -> tuple[list[float], Counter, float]:
        """Send prepared requests, ``concurrency`` at a time; return latencies, statuses, wall time."""
        import aiohttp

        latencies: list[float] = []
        statuses: Counter = Counter()
        queue = list(reversed(requests_))
        deadline = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=60)) as http:
            async def one_client():
                while queue and time.monotonic() < deadline:
                    method, url, headers, data = queue.pop()
                    started = time.perf_counter()
                    try:
                        async with http.request(method, url, headers=headers, data=data, allow_redirects=False) as r:
                            await r.read()
                            statuses[r.status] += 1
                    except aiohttp.ClientError as exc:
                        statuses[type(exc).__name__] += 1
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(one_client() for _ in range(concurrency)))
            return latencies, statuses, time.perf_counter() - started

    def fire(self, requests_, concurrency, seconds=None):
        return asyncio.run(self._fire(requests_, concurrency, seconds=seconds or self.args.max_seconds))

    def prepare_checkouts(self, n: int, products) -> list:
        """Customers with a cart and a checkout form each (untimed), ready to pay."""
        import requests

        prepared = []
        lock = threading.Lock()

        def customer(i: int) -> None:
            product = products[i % len(products)]
            with requests.Session() as http:
                http.get(f"{self.web_base}/products/{product.slug}/", timeout=30)
                csrf = http.cookies.get("csrftoken", "")
                http.post(f"{self.web_base}/cart/add/", data={"product_id": product.pk, "quantity": 1,
                                                              "csrfmiddlewaretoken": csrf},
                          allow_redirects=False, timeout=30)
                page = http.get(f"{self.web_base}/checkout/", timeout=30)
                form = hidden_fields(page.text)
                cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
            form.update({"email": f"b{i}@example.com", "payment_method_id": f"pm_bench{i}",
                         "csrfmiddlewaretoken": csrf})
            with lock:
                prepared.append(("POST", f"{self.web_base}/checkout/", {"Cookie": cookie}, form))

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(customer, range(n)))
        return prepared

    # --- checkout -------------------------------------------------------------------------

    def db_ceiling(self, n: int, concurrency: int, products) -> tuple[float, list[float]]:
        """The same writes as a checkout, as two short transactions, straight through psycopg."""
        import psycopg

        url = self.env["DATABASE_URL"]
        counter = iter(range(n))
        lock = threading.Lock()
        latencies: list[float] = []
        server_ticks: list[int] = []
        run = os.urandom(4).hex()

        def worker(slot: int) -> None:
            product = products[slot % len(products)]
            with psycopg.connect(url) as conn:
                backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                ticks = stack.cpu_ticks(backend)
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        server_ticks.append(stack.cpu_ticks(backend) - ticks)
                        return
                    started = time.perf_counter()
                    with conn.transaction():  # 1: record the order, reserve stock
                        order_id = conn.execute(
                            "INSERT INTO orders_order (reference, public_token, checkout_token, idempotency_key, "
                            "email, status, total_amount, currency, payment_method_id, refunded_amount, "
                            "status_reason, stock_released, created_at, status_changed_at, attempts, "
                            "next_attempt_at, last_error, lease_token) VALUES (%s, %s, %s, %s, %s, "
                            "'payment_starting', 1500, 'eur', 'pm_x', 0, '', false, now(), now(), 0, "
                            "now() + interval '30 seconds', '', '') RETURNING id",
                            [f"C{run}{i}"[:16], f"cpt-{run}-{i}", f"cct-{run}-{i}", f"cik-{run}-{i}",
                             f"c{i}@example.com"]).fetchone()[0]
                        conn.execute("UPDATE shop_product SET stock = stock - 1 WHERE id = %s AND stock >= 1",
                                     [product.pk])
                        conn.execute("INSERT INTO orders_orderline (order_id, product_id, product_name, unit_price, "
                                     "quantity) VALUES (%s, %s, 'Bench mug', 1500, 1)", [order_id, product.pk])
                        conn.execute("INSERT INTO orders_orderevent (order_id, at, kind, from_status, to_status, "
                                     "cause, message, details) VALUES (%s, now(), 'transition', '', "
                                     "'payment_starting', 'checkout', 'recorded', '{}')", [order_id])
                    with conn.transaction():  # 2: apply the payment, queue the email
                        conn.execute("SELECT id FROM orders_order WHERE id = %s FOR UPDATE", [order_id])
                        conn.execute("UPDATE orders_order SET status = 'paid', status_changed_at = now(), "
                                     "payment_intent_id = %s WHERE id = %s", [f"pi_c{run}{i}", order_id])
                        conn.execute("INSERT INTO orders_orderevent (order_id, at, kind, from_status, to_status, "
                                     "cause, message, details) VALUES (%s, now(), 'transition', "
                                     "'payment_starting', 'paid', 'checkout', '', '{}')", [order_id])
                        conn.execute("INSERT INTO orders_outboxmessage (order_id, kind, discriminator, payload, "
                                     "state, attempts, available_at, created_at, last_error, result) VALUES "
                                     "(%s, 'confirmation_email', '', '{}', 'pending', 0, now(), now(), '', '{}')",
                                     [order_id])
                    with lock:
                        latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(concurrency)]
        started, client_cpu = time.perf_counter(), self_cpu_seconds()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = n / (time.perf_counter() - started)
        cpu = {"postgres": sum(server_ticks) / TICKS, "client (psycopg)": self_cpu_seconds() - client_cpu}
        return rate, latencies, {name: seconds / n * 1000 for name, seconds in cpu.items()}

    def cpu_counters(self) -> dict[str, dict[int, int]]:
        """CPU ticks so far of each process serving the checkouts, by role (Linux /proc).

        PostgreSQL's share is its backends connected to the benchmark's database (the web
        workers keep theirs open: ``CONN_MAX_AGE``), not the whole shared server.
        """
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           [DB_NAME])
            backends = [row[0] for row in cursor.fetchall()]
        roles = {
            "web (gunicorn)": self.stack.procs["web"].pid,
            "Stripe fake": self.stack.procs["fast_stripe"].pid,
        }
        counters = {role: {p: stack.cpu_ticks(p) for p in [pid, *stack.descendants(pid)]}
                    for role, pid in roles.items()}
        counters["postgres"] = {p: stack.cpu_ticks(p) for p in backends}
        return counters

    @staticmethod
    def cpu_spent(before: dict[str, dict[int, int]], after: dict[str, dict[int, int]]) -> dict[str, float]:
        """Seconds of CPU per role between two ``cpu_counters`` (a process new since counts whole)."""
        return {role: sum(t - before[role].get(p, 0) for p, t in after[role].items()) / TICKS for role in after}

    def count_round_trips(self, path_fn, *, method: str = "get", data_fn=None, repeat: int = 3) -> dict:
        """Statements and transactions of one request, counted in-process with Django's test client."""
        from django.db import connection
        from django.test import Client

        import cProfile
        import pstats

        statements: list[int] = []
        commits: list[int] = []
        calls: list[int] = []
        for i in range(repeat):
            client = Client()
            path, data = path_fn(client, i), (data_fn(client, i) if data_fn else None)
            count = {"q": 0, "c": 0}

            def execute(run, sql, params, many, context):
                count["q"] += 1
                return run(sql, params, many, context)

            real_commit = connection.commit

            def commit():
                count["c"] += 1
                real_commit()

            connection.commit = commit
            # Python function calls: a deterministic measure of the work, where timings on a
            # shared machine move by ±15% from run to run.
            profile = cProfile.Profile()
            try:
                with connection.execute_wrapper(execute):
                    profile.enable()
                    getattr(client, method)(path, data) if data is not None else getattr(client, method)(path)
                    profile.disable()
            finally:
                del connection.commit
            statements.append(count["q"])
            commits.append(count["c"])
            calls.append(pstats.Stats(profile).total_calls)
        q, c = statistics.median(statements), statistics.median(commits)
        # psycopg sends BEGIN and COMMIT as round trips of their own; with CONN_HEALTH_CHECKS
        # Django also sends a "SELECT 1" of its own when a request first uses its connection.
        from django.conf import settings

        checks = 1 if settings.DATABASES["default"].get("CONN_HEALTH_CHECKS") else 0
        return {"statements": q, "transactions": c, "health_checks": checks, "round_trips": q + 2 * c + checks,
                "python_calls": statistics.median(calls)}

    def checkout_round_trips(self, products) -> dict:
        product = products[0]

        def path(client, i):
            client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
            return "/checkout/"

        def data(client, i):
            form = hidden_fields(client.get("/checkout/").content.decode())
            return {**form, "email": "rt@example.com", "payment_method_id": f"pm_rt{i}"}

        return self.count_round_trips(path, method="post", data_fn=data)

    def bench_checkout(self) -> None:
        n, c = self.args.checkouts, self.args.concurrency
        products = self.products(c)
        log(f"checkout: preparing {n} customers (cart + checkout form, untimed)")
        prepared = self.prepare_checkouts(n, products)
        log(f"checkout: {n} POST /checkout/ through gunicorn ({self.args.web_workers} workers), {c} at a time")
        before, load_cpu = self.cpu_counters(), self_cpu_seconds()
        latencies, statuses, wall = self.fire(prepared, c)
        load_cpu = self_cpu_seconds() - load_cpu
        cpu = {**self.cpu_spent(before, self.cpu_counters()), "load generator": load_cpu}
        from orders.models import Order, OrderStatus

        paid = Order.objects.filter(status=OrderStatus.PAID).count()
        log(f"checkout: database ceiling, same writes in two transactions, {c} connections")
        ceiling, db_lat, db_cpu = self.db_ceiling(n, c, products)
        trips = self.checkout_round_trips(products)
        rate = statuses[302] / wall
        self.results["checkout"] = {
            "orders": n, "paid": paid, "statuses": dict(statuses), "orders_per_s": rate,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000,
            "db_ceiling_orders_per_s": ceiling, "db_p50_ms": pct(db_lat, 0.5) * 1000,
            "ratio_to_db_ceiling": rate / ceiling, **trips,
            "cpu_ms_per_order": {role: seconds / max(statuses[302], 1) * 1000 for role, seconds in cpu.items()},
            "db_ceiling_cpu_ms_per_order": db_cpu,
        }

    # --- pending page ---------------------------------------------------------------------

    def bench_pending(self) -> None:
        from orders.models import Order

        n, c = self.args.polls, self.args.concurrency
        order = self.make_orders(1, with_payment_intent=False)[0]
        order = Order.objects.get(pk=order)
        status_url = f"{self.web_base}/orders/{order.public_token}/status/"
        log(f"pending: {n} polls of a pending order's status fragment, {c} at a time")
        # The page's poller sends the customer's cookies: give it a session like a browser has.
        cookie = {"Cookie": "sessionid=bench-no-such-session"}
        lat_p, st_p, wall_p = self.fire([("GET", status_url, cookie, None)] * n, c)
        log(f"pending: {n} requests of a no-database Django view, {c} at a time")
        lat_b, st_b, wall_b = self.fire([("GET", f"{self.web_base}/bench/nodb/", cookie, None)] * n, c)
        def poll(client, i):
            client.cookies["sessionid"] = "bench-no-such-session"  # as the browser's poller sends it
            return f"/orders/{order.public_token}/status/"

        trips = self.count_round_trips(poll)
        self.results["pending"] = {
            "polls": n, "statuses": dict(st_p), "polls_per_s": sum(st_p[s] for s in (200, 286)) / wall_p,
            "p50_ms": pct(lat_p, 0.5) * 1000, "p99_ms": pct(lat_p, 0.99) * 1000,
            "nodb_per_s": st_b[200] / wall_b, "nodb_p50_ms": pct(lat_b, 0.5) * 1000,
            "ratio_to_nodb": (sum(st_p[s] for s in (200, 286)) / wall_p) / (st_b[200] / wall_b),
            "queries_per_poll": trips["statements"], "health_checks": trips["health_checks"],
            "python_calls_per_poll": trips["python_calls"],
        }

    # --- bulk orders for the reconciler and the webhooks --------------------------------------

    def make_orders(self, count: int, *, with_payment_intent: bool = True, age_minutes: int = 10) -> list[int]:
        """Insert ``count`` stale pending orders in one statement; their PaymentIntent ids name them."""
        from django.db import connection

        run = os.urandom(3).hex()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders_order (reference, public_token, checkout_token, idempotency_key, email, status, "
                "total_amount, currency, payment_method_id, refunded_amount, status_reason, stock_released, "
                "created_at, status_changed_at, attempts, next_attempt_at, last_error, lease_token) "
                "SELECT 'B' || %s || g, 'bpt-' || %s || g, 'bct-' || %s || g, 'bik-' || %s || g, "
                "'b' || g || '@example.com', 'payment_starting', 1500, 'eur', 'pm_bench', 0, '', false, "
                "now() - make_interval(mins => %s), now() - make_interval(mins => %s), 0, NULL, '', '' "
                "FROM generate_series(1, %s) g RETURNING id",
                [run, run, run, run, age_minutes, age_minutes, count],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if with_payment_intent:
                cursor.execute(
                    "UPDATE orders_order SET payment_intent_id = 'pi_fake_' || id || 'x1500xeur' WHERE id = ANY(%s)",
                    [ids],
                )
            cursor.execute("ANALYZE orders_order")
        return ids

    # --- reconciler -----------------------------------------------------------------------

    def run_reconcilers(self, workers: int, **env_overrides) -> dict:
        from orders.models import PENDING_STATUSES, Order

        env = {**self.env, **{k: str(v) for k, v in env_overrides.items()}}
        procs = [subprocess.Popen([PY, "-m", "bench.reconcile_worker", str(self.args.batch)], cwd=stack.ROOT,
                                  env=env, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
        started = time.monotonic()
        outputs = []
        try:
            for proc in procs:
                out, _ = proc.communicate(timeout=self.args.max_seconds)
                outputs.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        wall = time.monotonic() - started
        examined = sum(o["examined"] for o in outputs)
        left = Order.objects.filter(status__in=PENDING_STATUSES).count()
        return {"workers": workers, "concurrency": int(env.get("PAYMENTS_RECONCILE_CONCURRENCY", 1)),
                "stripe_latency_ms": env_overrides.get("latency_ms", 0), "examined": examined, "left_pending": left, "seconds": wall,
                "rows_per_s": examined / wall, "outcomes": [o["outcomes"] for o in outputs],
                "errors": [e for o in outputs for e in o["errors"]],
                "peak_rss_mb": max(o["peak_rss_kb"] for o in outputs) / 1024,
                "rss_mb_first_last": [(o["rss_samples_kb"][0][1] / 1024, o["rss_samples_kb"][-1][1] / 1024)
                                      for o in outputs if o["rss_samples_kb"]],
                "rss_samples": outputs[0]["rss_samples_kb"]}

    def bench_reconciler(self) -> None:
        out = {}
        runs = [("1w", self.args.stale, 1, 1, None), ("2w", self.args.stale, 2, 1, None)]
        if self.args.latency_ms:
            # Stripe's real round trip: one order at a time, a worker does 1/latency orders per second.
            slow = stack.free_port()
            self.stack.start("slow_stripe", [PY, "-m", "bench.fast_stripe", "--port", str(slow), "--max-seconds",
                                             "7200", "--latency-ms", str(self.args.latency_ms)], self.env, port=slow)
            n = self.args.latency_orders
            runs += [("slow_c1", n, 1, 1, slow), (f"slow_c{self.args.concurrency}", n, 1, self.args.concurrency, slow)]
        for key, count, workers, concurrency, port in runs:
            self.reset()
            log(f"reconciler: inserting {count} stale pending orders")
            self.make_orders(count)
            latency = f", Stripe latency {self.args.latency_ms:.0f} ms" if port else ""
            log(f"reconciler: converging them with {workers} worker(s) x {concurrency} thread(s){latency}")
            overrides = {"PAYMENTS_RECONCILE_CONCURRENCY": concurrency}
            if port:
                overrides.update(STRIPE_API_BASE=f"http://127.0.0.1:{port}", latency_ms=self.args.latency_ms)
            out[key] = self.run_reconcilers(workers, **overrides)
            log(f"reconciler: {out[key]['rows_per_s']:.0f} rows/s, peak RSS {out[key]['peak_rss_mb']:.0f} MB")
        self.results["reconciler"] = out

    # --- webhooks -------------------------------------------------------------------------

    def bench_webhooks(self) -> None:
        from orders.models import Order, OrderStatus
        from payments.stand_in import seed_local_account, webhook_url

        n, c = self.args.events, self.args.concurrency
        ids = self.make_orders(n, age_minutes=0)
        url = webhook_url(seed_local_account(), self.web_base)
        prepared = []
        now = int(time.time())
        for i, order_id in enumerate(ids):
            pi = f"pi_fake_{order_id}x1500xeur"
            event = {
                "id": f"evt_bench_{order_id}", "object": "event", "api_version": "2024-06-20", "created": now,
                "type": "payment_intent.succeeded", "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": {"id": pi, "object": "payment_intent", "amount": 1500, "currency": "eur",
                                    "status": "succeeded", "created": now, "livemode": False,
                                    "metadata": {"order_id": str(order_id), "shop": TAG},
                                    "payment_method": None, "last_payment_error": None}},
            }
            body = json.dumps(event)
            signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
            prepared.append(("POST", url, {"Stripe-Signature": f"t={now},v1={signature}",
                                           "Content-Type": "application/json"}, body))
        log(f"webhooks: {n} signed payment_intent.succeeded events, {c} at a time")
        latencies, statuses, wall = self.fire(prepared, c)
        applied = Order.objects.filter(pk__in=ids, status=OrderStatus.PAID).count()
        self.results["webhooks"] = {
            "events": n, "statuses": dict(statuses), "events_per_s": statuses[200] / wall,
            "applied": applied, "applied_per_s": applied / wall,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000,
        }

    # --- report ---------------------------------------------------------------------------

    def report(self) -> None:
        r = self.results
        print("\n==================== benchmarks ====================")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
              f"gunicorn {self.args.web_workers} sync workers; Stripe = bench.fast_stripe (zero latency)")
        if "checkout" in r:
            x = r["checkout"]
            print(f"checkout   : {x['orders_per_s']:.1f} orders/s, p50 {x['p50_ms']:.0f} ms, p99 {x['p99_ms']:.0f} ms "
                  f"({x['orders']} orders, {self.args.concurrency} concurrent, statuses {x['statuses']})")
            print(f"             database ceiling for the same writes: {x['db_ceiling_orders_per_s']:.0f} orders/s "
                  f"(p50 {x['db_p50_ms']:.1f} ms) -> ratio {x['ratio_to_db_ceiling']:.2f}")
            print(f"             per checkout: {x['statements']:.0f} SQL statements in {x['transactions']:.0f} "
                  f"transactions + {x.get('health_checks', 0)} connection health check = "
                  f"{x['round_trips']:.0f} database round trips; {x['python_calls']:.0f} Python function calls "
                  f"(in-process, test client included)")
            if "cpu_ms_per_order" in x:
                ours, bare = x["cpu_ms_per_order"], x["db_ceiling_cpu_ms_per_order"]
                cores = os.cpu_count() or 1
                print("             CPU per checkout: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ours.items())
                      + f" = {sum(ours.values()):.1f} ms -> {cores} cores allow <= "
                      f"{cores * 1000 / sum(ours.values()):.0f} orders/s")
                print("             CPU per ceiling order: " + ", ".join(f"{k} {v:.2f} ms" for k, v in bare.items())
                      + f" = {sum(bare.values()):.2f} ms (PostgreSQL: ours {ours['postgres']:.1f} ms, "
                      f"{ours['postgres'] / max(bare['postgres'], 1e-9):.1f}x the bare writes)")
        if "pending" in r:
            x = r["pending"]
            print(f"pending    : {x['polls_per_s']:.0f} polls/s, p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms, "
                  f"{x['queries_per_poll']:.0f} queries per poll (+ {x.get('health_checks', 0)} connection health "
                  f"check), {x.get('python_calls_per_poll', 0):.0f} Python function calls")
            print(f"             no-database Django view: {x['nodb_per_s']:.0f} req/s (p50 {x['nodb_p50_ms']:.1f} ms) "
                  f"-> ratio {x['ratio_to_nodb']:.2f}")
        if "reconciler" in r:
            for key, x in r["reconciler"].items():
                first_last = ", ".join(f"{a:.0f}->{b:.0f} MB" for a, b in x["rss_mb_first_last"])
                print(f"reconciler : {x['workers']} worker(s) x {x['concurrency']} thread(s), Stripe latency "
                      f"{x['stripe_latency_ms']} ms: {x['examined']} stale orders converged in "
                      f"{x['seconds']:.0f}s = {x['rows_per_s']:.0f} rows/s; left pending {x['left_pending']}; "
                      f"RSS first->last batch {first_last}; peak {x['peak_rss_mb']:.0f} MB")
            one, two = r["reconciler"].get("1w"), r["reconciler"].get("2w")
            if one and two:
                print(f"             two workers / one: {two['rows_per_s'] / one['rows_per_s']:.2f}x")
            slow = [x for k, x in r["reconciler"].items() if k.startswith("slow_")]
            if len(slow) == 2:
                print(f"             with Stripe latency, {slow[1]['concurrency']} threads / 1: "
                      f"{slow[1]['rows_per_s'] / slow[0]['rows_per_s']:.1f}x "
                      f"(ceiling 1 / latency = {1000 / slow[0]['stripe_latency_ms']:.0f} rows/s per thread)")
        if "webhooks" in r:
            x = r["webhooks"]
            print(f"webhooks   : {x['events_per_s']:.0f} events/s ingested, {x['applied']}/{x['events']} applied "
                  f"({x['applied_per_s']:.0f}/s), p50 {x['p50_ms']:.0f} ms, p99 {x['p99_ms']:.0f} ms, "
                  f"statuses {x['statuses']}")
        print("====================================================")
        out = stack.VAR / "results.json"
        previous = json.loads(out.read_text()) if out.exists() else {}
        previous.update(r)
        out.write_text(json.dumps(previous, indent=2, default=str))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=["checkout", "pending", "reconciler", "webhooks", "all"])
    parser.add_argument("--checkouts", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=5000)
    parser.add_argument("--stale", type=int, default=100_000, help="stale orders for the reconciler")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="reconciler batch size")
    parser.add_argument("--latency-ms", type=float, default=100.0,
                        help="also run the reconciler against a Stripe this slow (0: skip)")
    parser.add_argument("--latency-orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=1800, help="bound on each timed phase")
    args = parser.parse_args(argv)
    bench = Bench(args)
    try:
        chosen = ["checkout", "pending", "webhooks", "reconciler"] if "all" in args.what else args.what
        bench.start(web=chosen != ["reconciler"])
        for what in chosen:
            getattr(bench, f"bench_{what}")()
        bench.report()
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
