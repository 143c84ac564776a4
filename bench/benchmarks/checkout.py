"""Checkout benchmark: POST /checkout/ through gunicorn, beside the database's own ceiling.

Orders/s, p50/p99, CPU per order of every process serving it, round trips and Python calls
per checkout; the ceiling is the same writes as two short transactions straight through psycopg.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench import measure, shopdata, stack
from bench.benchmarks.context import DB_NAME
from bench.browser import open_checkout
from bench.forms import delivery_fields, hidden_fields
from bench.measure import TICKS, pct, self_cpu_seconds
from bench.report import log


def stocked_products(count: int) -> list:
    return [
        shopdata.stocked_product(f"bench-{i}", f"Bench mug {i}", 10_000_000) for i in range(count)
    ]


def prepare_checkouts(web_base: str, n: int, products) -> list:
    """Customers with a cart and a checkout form each (untimed), ready to pay."""
    import requests

    prepared = []
    lock = threading.Lock()

    def customer(i: int) -> None:
        product = products[i % len(products)]
        with requests.Session() as http:

            def send(method, path, expect=None, **kwargs):
                return http.request(
                    method, web_base + path, timeout=30, allow_redirects=method == "GET", **kwargs
                )

            form = open_checkout(http, send, product)
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        form.update({"email": f"b{i}@example.com", "payment_method_id": f"pm_bench{i}"})
        with lock:
            prepared.append(("POST", f"{web_base}/checkout/", {"Cookie": cookie}, form))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(customer, range(n)))
    return prepared


def db_ceiling(
    url: str, n: int, concurrency: int, products
) -> tuple[float, list[float], dict[str, float]]:
    """The same writes as a checkout, as two short transactions, straight through psycopg."""
    import psycopg

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
                        "INSERT INTO orders_order (reference, public_token, checkout_token, "
                        "idempotency_key, email, status, total_amount, currency, "
                        "payment_method_id, refunded_amount, status_reason, stock_released, "
                        "created_at, status_changed_at, attempts, next_attempt_at, last_error, "
                        "lease_token) VALUES (%s, %s, %s, %s, %s, "
                        "'payment_starting', 1500, 'eur', 'pm_x', 0, '', false, now(), now(), 0, "
                        "now() + interval '30 seconds', '', '') RETURNING id",
                        [
                            f"C{run}{i}"[:16],
                            f"cpt-{run}-{i}",
                            f"cct-{run}-{i}",
                            f"cik-{run}-{i}",
                            f"c{i}@example.com",
                        ],
                    ).fetchone()[0]
                    conn.execute(
                        "UPDATE catalog_product SET stock = stock - 1 WHERE id = %s AND stock >= 1",
                        [product.pk],
                    )
                    conn.execute(
                        "INSERT INTO orders_orderline (order_id, product_id, product_name, "
                        "unit_price, quantity) VALUES (%s, %s, 'Bench mug', 1500, 1)",
                        [order_id, product.pk],
                    )
                    conn.execute(
                        "INSERT INTO orders_orderevent (order_id, at, kind, from_status, "
                        "to_status, cause, message, details) VALUES (%s, now(), 'transition', '', "
                        "'payment_starting', 'checkout', 'recorded', '{}')",
                        [order_id],
                    )
                with conn.transaction():  # 2: apply the payment, queue the email
                    conn.execute("SELECT id FROM orders_order WHERE id = %s FOR UPDATE", [order_id])
                    conn.execute(
                        "UPDATE orders_order SET status = 'paid', status_changed_at = now(), "
                        "payment_intent_id = %s WHERE id = %s",
                        [f"pi_c{run}{i}", order_id],
                    )
                    conn.execute(
                        "INSERT INTO orders_orderevent (order_id, at, kind, from_status, "
                        "to_status, cause, message, details) VALUES (%s, now(), 'transition', "
                        "'payment_starting', 'paid', 'checkout', '', '{}')",
                        [order_id],
                    )
                    conn.execute(
                        "INSERT INTO orders_outboxmessage (order_id, kind, discriminator, "
                        "payload, state, attempts, available_at, created_at, last_error, result) "
                        "VALUES (%s, 'confirmation_email', '', '{}', 'pending', 0, now(), now(), "
                        "'', '{}')",
                        [order_id],
                    )
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(concurrency)]
    started, client_cpu = time.perf_counter(), self_cpu_seconds()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = n / (time.perf_counter() - started)
    cpu = {
        "postgres": sum(server_ticks) / TICKS,
        "client (psycopg)": self_cpu_seconds() - client_cpu,
    }
    return rate, latencies, {name: seconds / n * 1000 for name, seconds in cpu.items()}


def checkout_round_trips(products) -> dict:
    product = products[0]

    def path(client, i):
        client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
        return "/checkout/"

    def data(client, i):
        page = client.get("/checkout/").content.decode()
        form = {**hidden_fields(page), **delivery_fields(page)}
        return {**form, "email": "rt@example.com", "payment_method_id": f"pm_rt{i}"}

    return measure.count_round_trips(path, method="post", data_fn=data)


def run(bench) -> dict:
    args = bench.args
    n, c = args.checkouts, args.concurrency
    products = stocked_products(c)
    log(f"checkout: preparing {n} customers (cart + checkout form, untimed)")
    prepared = prepare_checkouts(bench.web_base, n, products)
    log(
        f"checkout: {n} POST /checkout/ through gunicorn ({args.web_workers} workers), "
        f"{c} at a time"
    )
    roles = {
        "web (gunicorn)": bench.stack.procs["web"].pid,
        "Stripe fake": bench.stack.procs["fast_stripe"].pid,
    }
    before, load_cpu = measure.cpu_counters(roles, DB_NAME), self_cpu_seconds()
    latencies, statuses, wall = bench.fire(prepared, c)
    load_cpu = self_cpu_seconds() - load_cpu
    cpu = {
        **measure.cpu_spent(before, measure.cpu_counters(roles, DB_NAME)),
        "load generator": load_cpu,
    }
    from orders.models import Order, OrderStatus

    paid = Order.objects.filter(status=OrderStatus.PAID).count()
    log(f"checkout: database ceiling, same writes in two transactions, {c} connections")
    ceiling, db_lat, db_cpu = db_ceiling(bench.env["DATABASE_URL"], n, c, products)
    trips = checkout_round_trips(products)
    rate = statuses[302] / wall
    return {
        "orders": n,
        "paid": paid,
        "statuses": dict(statuses),
        "orders_per_s": rate,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "db_ceiling_orders_per_s": ceiling,
        "db_p50_ms": pct(db_lat, 0.5) * 1000,
        "ratio_to_db_ceiling": rate / ceiling,
        **trips,
        "cpu_ms_per_order": {
            role: seconds / max(statuses[302], 1) * 1000 for role, seconds in cpu.items()
        },
        "db_ceiling_cpu_ms_per_order": db_cpu,
    }


def report(x: dict, args) -> None:
    print(
        f"checkout   : {x['orders_per_s']:.1f} orders/s, p50 {x['p50_ms']:.0f} ms, "
        f"p99 {x['p99_ms']:.0f} ms "
        f"({x['orders']} orders, {args.concurrency} concurrent, statuses {x['statuses']})"
    )
    print(
        f"             database ceiling for the same writes: "
        f"{x['db_ceiling_orders_per_s']:.0f} orders/s "
        f"(p50 {x['db_p50_ms']:.1f} ms) -> ratio {x['ratio_to_db_ceiling']:.2f}"
    )
    print(
        f"             per checkout: {x['statements']:.0f} SQL statements in "
        f"{x['transactions']:.0f} transactions + {x.get('health_checks', 0)} connection health "
        f"check = {x['round_trips']:.0f} database round trips; "
        f"{x['python_calls']:.0f} Python function calls (in-process, test client included)"
    )
    if "cpu_ms_per_order" in x:
        ours, bare = x["cpu_ms_per_order"], x["db_ceiling_cpu_ms_per_order"]
        cores = os.cpu_count() or 1
        print(
            "             CPU per checkout: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in ours.items())
            + f" = {sum(ours.values()):.1f} ms -> {cores} cores allow <= "
            f"{cores * 1000 / sum(ours.values()):.0f} orders/s"
        )
        print(
            "             CPU per ceiling order: "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in bare.items())
            + f" = {sum(bare.values()):.2f} ms (PostgreSQL: ours {ours['postgres']:.1f} ms, "
            f"{ours['postgres'] / max(bare['postgres'], 1e-9):.1f}x the bare writes)"
        )
