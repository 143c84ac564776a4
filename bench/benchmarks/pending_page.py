"""Pending page benchmark: polls/s of a pending order's status fragment vs a no-database view."""

from bench import measure, shopdata
from bench.measure import pct
from bench.report import log


def run(bench) -> dict:
    from orders.models import Order

    n, c = bench.args.polls, bench.args.concurrency
    order = shopdata.make_stale_orders(1, with_payment_intent=False)[0]
    order = Order.objects.get(pk=order)
    status_url = f"{bench.web_base}/orders/{order.public_token}/status/"
    log(f"pending: {n} polls of a pending order's status fragment, {c} at a time")
    # The page's poller sends the customer's cookies: give it a session like a browser has.
    cookie = {"Cookie": "sessionid=bench-no-such-session"}
    lat_p, st_p, wall_p = bench.fire([("GET", status_url, cookie, None)] * n, c)
    log(f"pending: {n} requests of a no-database Django view, {c} at a time")
    lat_b, st_b, wall_b = bench.fire(
        [("GET", f"{bench.web_base}/bench/nodb/", cookie, None)] * n, c
    )

    def poll(client, i):
        client.cookies["sessionid"] = "bench-no-such-session"  # as the browser's poller sends it
        return f"/orders/{order.public_token}/status/"

    trips = measure.count_round_trips(poll)
    return {
        "polls": n,
        "statuses": dict(st_p),
        "polls_per_s": sum(st_p[s] for s in (200, 286)) / wall_p,
        "p50_ms": pct(lat_p, 0.5) * 1000,
        "p99_ms": pct(lat_p, 0.99) * 1000,
        "nodb_per_s": st_b[200] / wall_b,
        "nodb_p50_ms": pct(lat_b, 0.5) * 1000,
        "ratio_to_nodb": (sum(st_p[s] for s in (200, 286)) / wall_p) / (st_b[200] / wall_b),
        "queries_per_poll": trips["statements"],
        "health_checks": trips["health_checks"],
        "python_calls_per_poll": trips["python_calls"],
    }


def report(x: dict, args) -> None:
    print(
        f"pending    : {x['polls_per_s']:.0f} polls/s, p50 {x['p50_ms']:.1f} ms, "
        f"p99 {x['p99_ms']:.1f} ms, {x['queries_per_poll']:.0f} queries per poll "
        f"(+ {x.get('health_checks', 0)} connection health check), "
        f"{x.get('python_calls_per_poll', 0):.0f} Python function calls"
    )
    print(
        f"             no-database Django view: {x['nodb_per_s']:.0f} req/s "
        f"(p50 {x['nodb_p50_ms']:.1f} ms) -> ratio {x['ratio_to_nodb']:.2f}"
    )
