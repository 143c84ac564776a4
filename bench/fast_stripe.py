"""A tiny, stateless, zero-latency Stripe fake for the benchmarks (loopback only).

localstripe is a faithful stand-in but it is slow for load (one Python process that, unless
run with ``--memory``, pickles its whole store on every write) and it would have to hold
100,000 PaymentIntents for the reconciler benchmark. This fake keeps no state at all: a
PaymentIntent's id encodes its order, amount and currency (``pi_fake_<order>x<amount>x<cur>``),
so any id can be answered at once:

- ``POST /v1/payment_methods`` -> a card PaymentMethod;
- ``POST /v1/payment_intents`` -> ``requires_confirmation`` (metadata echoed back);
- ``POST /v1/payment_intents/<id>/confirm`` and ``GET /v1/payment_intents/<id>`` -> ``succeeded``;
- ``POST /v1/payment_intents/<id>/cancel`` -> ``canceled``;
- lists (payment intents, refunds) -> empty.

``--latency-ms`` delays every answer (creates and confirms alike, as real Stripe's round trip
does: ~100-400 ms per call), to see what that latency does to the shop.

``--rate-limit 25`` is Stripe's test-mode account limit: a token bucket of 25 requests a
second (burst 25) shared by every caller (``devtools.stripe_semantics.TokenBucket``, the
tests' own); over it a request is answered as Stripe answers it, ``429`` with
``{"error": {"type": "invalid_request_error", "code": "rate_limit"}}`` and
``Stripe-Should-Retry`` (nothing was done), after ``--limited-latency-ms`` (default: the
same latency as any call). ``--stateful`` keeps the PaymentIntents it
makes and those a benchmark seeds (``POST /_bench/payment_intents``, a JSON list), and
answers reads, lists (newest first, ``created[gte|lte]``, ``starting_after``, ``limit`` up to
100, ``expand[]=data.latest_charge``) and refunds lists from them. ``GET /_bench/stats``
counts the requests by route, by method (``POST requests``, ``GET 429``...) and the 429s,
with the ``seconds`` since the counts began; ``DELETE`` zeroes them. ``/_bench/*`` is
neither limited nor counted.

It measures the shop, not Stripe: figures taken against it are ceilings, not predictions.

Usage: python -m bench.fast_stripe --port 8440 [--latency-ms 300] [--rate-limit 25]
       [--limited-latency-ms 50] [--stateful] [--max-seconds 3600]
"""

import argparse
import asyncio
import bisect
import itertools
import json
import time
from collections import Counter

from aiohttp import web

from devtools.stripe_semantics import TokenBucket, rate_limited

_counter = itertools.count(1)


def payment_intent_id(*, order_id: str, amount: int, currency: str) -> str:
    return f"pi_fake_{order_id}x{amount}x{currency}"


def _payment_intent(pi_id: str, status: str, metadata: dict | None = None) -> dict:
    try:
        order_id, amount, currency = pi_id.removeprefix("pi_fake_").split("x")
        amount = int(amount)
    except ValueError:
        return {}
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency,
        "status": status,
        "client_secret": f"{pi_id}_secret_fake",
        "created": int(time.time()),
        "livemode": False,
        "metadata": metadata or {"order_id": order_id, "shop": "convergent-shop"},
        "payment_method": None,
        "payment_method_types": ["card"],
        "last_payment_error": None,
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"type": "invalid_request_error", "message": message}}, status=status
    )


def _metadata(form) -> dict:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}


async def create_payment_method(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "id": f"pm_fake{next(_counter)}",
            "object": "payment_method",
            "type": "card",
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034},
            "livemode": False,
        }
    )


async def create_payment_intent(request: web.Request) -> web.Response:
    form = await request.post()
    metadata = _metadata(form)
    pi_id = payment_intent_id(
        order_id=metadata.get("order_id", "0"),
        amount=int(form.get("amount", 0)),
        currency=form.get("currency", "eur"),
    )
    body = _payment_intent(pi_id, "requires_confirmation", metadata)
    store = STORE["store"]
    if store is not None and body:
        if pi_id in store.by_id:  # the same create again (its key): the same PaymentIntent
            return web.json_response(_public(store.by_id[pi_id]))
        store.add(body)
        return web.json_response(_public(body))
    return web.json_response(body)


LATENCY = {"seconds": 0.0, "limited_seconds": 0.0}
STATS: Counter = Counter()
COUNTING = {"since": time.monotonic()}


LIMIT: dict[str, TokenBucket | None] = {"bucket": None}


class Store:
    """The PaymentIntents of a stateful fake, in ``created`` order for the lists."""

    def __init__(self):
        self.by_id: dict[str, dict] = {}
        self.order: list[tuple[int, int, str]] = []  # (created, seq, id), ascending
        self.seq = itertools.count()

    def add(self, pi: dict) -> None:
        if pi["id"] not in self.by_id:
            bisect.insort(self.order, (pi["created"], next(self.seq), pi["id"]))
        self.by_id[pi["id"]] = pi

    def page(self, *, gte, lte, starting_after, limit) -> tuple[list[dict], bool]:
        """Newest first inside ``[gte, lte]``, after ``starting_after``."""
        hi = len(self.order)
        if lte is not None:
            hi = bisect.bisect_right(self.order, (lte, float("inf"), ""))
        if starting_after and starting_after in self.by_id:
            pi = self.by_id[starting_after]
            at = bisect.bisect_left(self.order, (pi["created"], -1, ""))
            while at < len(self.order) and self.order[at][2] != starting_after:
                at += 1
            hi = min(hi, at)
        lo = 0 if gte is None else bisect.bisect_left(self.order, (gte, -1, ""))
        chosen = self.order[max(lo, hi - limit) : hi]
        return [self.by_id[i] for _, _, i in reversed(chosen)], hi - limit > lo


STORE: dict[str, Store | None] = {"store": None}


def _charge(pi: dict) -> dict | str | None:
    if pi["status"] != "succeeded":
        return None
    return {
        "id": "ch_" + pi["id"].removeprefix("pi_"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_refunded": pi.get("_refunded", 0),
        "refunded": pi.get("_refunded", 0) >= pi["amount"],
        "status": "succeeded",
        "payment_intent": pi["id"],
    }


def _public(pi: dict, *, expand_charge: bool = False) -> dict:
    body = {k: v for k, v in pi.items() if not k.startswith("_")}
    charge = _charge(pi)
    body["latest_charge"] = charge if expand_charge or charge is None else charge["id"]
    return body


@web.middleware
async def rate_limit(request: web.Request, handler) -> web.StreamResponse:
    """Stripe's limiter comes first: over the budget, a 429 and nothing done."""
    if request.path.startswith("/_bench/"):
        return await handler(request)
    STATS["requests"] += 1
    STATS[f"{request.method} requests"] += 1
    STATS[f"{request.method} {_route(request.path)}"] += 1
    bucket = LIMIT["bucket"]
    if bucket is not None and not bucket.take():
        STATS["429"] += 1
        STATS[f"{request.method} 429"] += 1
        await request.read()
        if LATENCY["limited_seconds"]:
            await asyncio.sleep(LATENCY["limited_seconds"])
        answer = rate_limited()
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers={
                **answer.headers,
                # The limiter ran before anything was done: the same request may be sent again.
                "Stripe-Should-Retry": "true",
                "Request-Id": f"req_fake{next(_counter)}",
            },
        )
    return await handler(request)


def _route(path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "payment_intents":
        parts[2] = "{id}"
    return "/" + "/".join(parts)


@web.middleware
async def stripe_latency(request: web.Request, handler) -> web.StreamResponse:
    """Every call takes ``--latency-ms`` before its answer, after its request arrived whole."""
    if LATENCY["seconds"]:
        await request.read()
        await asyncio.sleep(LATENCY["seconds"])
    return await handler(request)


def _answer(status: str | None):
    """A read (``status`` None: as it stands) or a move of the PaymentIntent to ``status``."""

    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            await request.read()
        pi_id = request.match_info["pi_id"]
        store = STORE["store"]
        if store is not None and pi_id in store.by_id:
            pi = store.by_id[pi_id]
            if status == "succeeded" and pi["status"] == "requires_confirmation":
                pi["status"] = "succeeded"
            elif status == "canceled" and pi["status"] != "succeeded":
                pi["status"] = "canceled"
            return web.json_response(_public(pi))
        body = _payment_intent(pi_id, status or "succeeded")
        return web.json_response(body) if body else _error(404, "No such payment_intent")

    return handler


def _int(value) -> int | None:
    return None if value is None else int(value)


async def list_payment_intents(request: web.Request) -> web.Response:
    store = STORE["store"]
    if store is None:
        return await empty_list(request)
    q = request.query
    limit = min(max(int(q.get("limit", 10)), 1), 100)
    data, more = store.page(
        gte=_int(q.get("created[gte]")),
        lte=_int(q.get("created[lte]")),
        starting_after=q.get("starting_after"),
        limit=limit,
    )
    expand = "data.latest_charge" in q.getall("expand[]", []) + q.getall("expand[0]", [])
    return web.json_response(
        {
            "object": "list",
            "data": [_public(pi, expand_charge=expand) for pi in data],
            "has_more": more,
            "url": request.path,
        }
    )


async def list_refunds(request: web.Request) -> web.Response:
    store = STORE["store"]
    pi = store.by_id.get(request.query.get("payment_intent", "")) if store else None
    data = []
    if pi is not None and pi.get("_refunded"):
        data = [
            {
                "id": "re_" + pi["id"].removeprefix("pi_"),
                "object": "refund",
                "amount": pi["_refunded"],
                "status": "succeeded",
                "payment_intent": pi["id"],
                "metadata": {},
            }
        ]
    return web.json_response(
        {"object": "list", "data": data, "has_more": False, "url": request.path}
    )


async def empty_list(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [], "has_more": False, "url": request.path})


async def seed_payment_intents(request: web.Request) -> web.Response:
    """Bench only: keep these PaymentIntents (``id``, ``amount``, ``currency``, ``status``,
    ``created``, ``metadata``, optional ``last_payment_error`` and ``refunded``)."""
    store = STORE["store"]
    if store is None:
        return _error(400, "start the fake with --stateful to seed it")
    for item in json.loads(await request.read()):
        pi = {
            "id": item["id"],
            "object": "payment_intent",
            "amount": item["amount"],
            "amount_received": item["amount"] if item["status"] == "succeeded" else 0,
            "currency": item["currency"],
            "status": item["status"],
            "client_secret": f"{item['id']}_secret_fake",
            "created": item["created"],
            "livemode": False,
            "metadata": item["metadata"],
            "payment_method": None,
            "payment_method_types": ["card"],
            "last_payment_error": item.get("last_payment_error"),
            "_refunded": item.get("refunded", 0),
        }
        store.add(pi)
    return web.json_response({"stored": len(store.by_id)})


async def bench_stats(request: web.Request) -> web.Response:
    if request.method == "DELETE":
        STATS.clear()
        COUNTING["since"] = time.monotonic()
    return web.json_response({**STATS, "seconds": time.monotonic() - COUNTING["since"]})


async def not_found(request: web.Request) -> web.Response:
    return _error(404, f"fast_stripe does not serve {request.method} {request.path}")


def build_app() -> web.Application:
    app = web.Application(middlewares=[rate_limit, stripe_latency], client_max_size=2**28)
    app.router.add_post("/_bench/payment_intents", seed_payment_intents)
    app.router.add_route("*", "/_bench/stats", bench_stats)
    app.router.add_post("/v1/payment_methods", create_payment_method)
    app.router.add_post("/v1/payment_intents", create_payment_intent)
    app.router.add_get("/v1/payment_intents", list_payment_intents)
    app.router.add_get("/v1/refunds", list_refunds)
    app.router.add_get("/v1/payment_intents/{pi_id}", _answer(None))
    app.router.add_post("/v1/payment_intents/{pi_id}/confirm", _answer("succeeded"))
    app.router.add_post("/v1/payment_intents/{pi_id}/cancel", _answer("canceled"))
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def serve(port: int, max_seconds: float) -> None:
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.sleep(max_seconds)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=3600, help="exit after this long")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="answer every call after this long (real Stripe: ~100-400 ms per call)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=0.0,
        help="requests a second for the whole account, 429 over it (Stripe test mode: 25)",
    )
    parser.add_argument(
        "--limited-latency-ms",
        type=float,
        default=None,
        help="answer a 429 after this long (default: --latency-ms)",
    )
    parser.add_argument(
        "--stateful", action="store_true", help="keep PaymentIntents; lists answer from them"
    )
    args = parser.parse_args()
    LATENCY["seconds"] = args.latency_ms / 1000
    limited = args.latency_ms if args.limited_latency_ms is None else args.limited_latency_ms
    LATENCY["limited_seconds"] = limited / 1000
    LIMIT["bucket"] = TokenBucket(args.rate_limit) if args.rate_limit else None
    STORE["store"] = Store() if args.stateful else None
    asyncio.run(serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
