"""A rate-limited Stripe fake for the budget benchmark: ``bench.fast_stripe``'s answers behind
Stripe's account-wide token bucket, with Stripe's latency (loopback only).

- every request takes a token from one bucket (``--rate`` per second, a burst of the same
  size, as ``devtools.stripe_semantics.TokenBucket``); with none left it is answered ``429``
  ``code=rate_limit`` as Stripe does, after ``--limited-latency-ms`` (a round trip, no work);
- otherwise ``bench.fast_stripe`` answers it after ``--latency-ms``;
- ``GET /_stats``: requests and 429s so far, split into customers' calls (POST: create and
  confirm) and the background's (GET: the sweep's reads); ``POST /_stats/reset`` zeroes them.

Usage: python -m bench.benchmarks.limited_stripe --port 8121 [--rate 25] [--latency-ms 300]
"""

import argparse
import asyncio
import time
from collections import Counter

from aiohttp import web

from bench import fast_stripe
from devtools.stripe_semantics import TokenBucket, rate_limited

STATS: Counter = Counter()
STATE = {"started": time.monotonic()}


def _who(request: web.Request) -> str:
    return "customer" if request.method == "POST" else "background"


def build_app(*, rate: float, latency: float, limited_latency: float) -> web.Application:
    bucket = TokenBucket(rate)

    @web.middleware
    async def account_rate_limit(request: web.Request, handler) -> web.StreamResponse:
        if request.path == "/_stats":
            return web.json_response({**STATS, "seconds": time.monotonic() - STATE["started"]})
        if request.path == "/_stats/reset":
            STATS.clear()
            STATE["started"] = time.monotonic()
            return web.json_response({})
        who = _who(request)
        STATS[f"{who} requests"] += 1
        if not bucket.take():
            STATS[f"{who} 429"] += 1
            await request.read()
            await asyncio.sleep(limited_latency)
            answer = rate_limited()
            return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        await request.read()
        await asyncio.sleep(latency)
        return await handler(request)

    app = fast_stripe.build_app()
    app.middlewares.insert(0, account_rate_limit)  # before fast_stripe's own latency (none)
    return app


async def serve(app: web.Application, port: int, max_seconds: float) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.sleep(max_seconds)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=25.0, help="the account's requests/s")
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--limited-latency-ms", type=float, default=50.0)
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args()
    app = build_app(
        rate=args.rate,
        latency=args.latency_ms / 1000,
        limited_latency=args.limited_latency_ms / 1000,
    )
    asyncio.run(serve(app, args.port, args.max_seconds))


if __name__ == "__main__":
    main()
