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

It measures the shop, not Stripe: figures taken against it are ceilings, not predictions.

Usage: python -m bench.fast_stripe --port 8440 [--latency-ms 300] [--max-seconds 3600]
"""

import argparse
import asyncio
import itertools
import time

from aiohttp import web

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
    return web.json_response(_payment_intent(pi_id, "requires_confirmation", metadata))


LATENCY = {"seconds": 0.0}


@web.middleware
async def stripe_latency(request: web.Request, handler) -> web.StreamResponse:
    """Every call takes ``--latency-ms`` before its answer, after its request arrived whole."""
    if LATENCY["seconds"]:
        await request.read()
        await asyncio.sleep(LATENCY["seconds"])
    return await handler(request)


def _answer(status: str):
    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            await request.read()
        body = _payment_intent(request.match_info["pi_id"], status)
        return web.json_response(body) if body else _error(404, "No such payment_intent")

    return handler


async def empty_list(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [], "has_more": False, "url": request.path})


async def not_found(request: web.Request) -> web.Response:
    return _error(404, f"fast_stripe does not serve {request.method} {request.path}")


def build_app() -> web.Application:
    app = web.Application(middlewares=[stripe_latency])
    app.router.add_post("/v1/payment_methods", create_payment_method)
    app.router.add_post("/v1/payment_intents", create_payment_intent)
    app.router.add_get("/v1/payment_intents", empty_list)
    app.router.add_get("/v1/refunds", empty_list)
    app.router.add_get("/v1/payment_intents/{pi_id}", _answer("succeeded"))
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
    args = parser.parse_args()
    LATENCY["seconds"] = args.latency_ms / 1000
    asyncio.run(serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
