"""A fault-injecting HTTP proxy for the wire between the shop and its Stripe (loopback only).

Every request is forwarded to ``--upstream`` unless a fault is drawn for it:

- ``drop``: forward the request (Stripe acts), then close the client's connection without
  replying: "Stripe succeeded but the response is lost".
- ``lost``: close the client's connection without forwarding: "the request never arrived".
- ``delay``: forward, then hold the reply for ``--delay-seconds`` (longer than the shop's
  timeout turns it into a hang whose effect did happen).
- ``error500``: answer 500 without forwarding; ``error500_after``: forward, then answer 500.

These are faults on the wire, in front of Stripe. Behind them, with ``--stripe-semantics on``
(the default), sits Stripe's own behaviour (``devtools.stripe_semantics``, the same core the
test suite uses): answers saved per idempotency key and replayed (``Idempotent-Replayed``),
``400 idempotency_error`` for a key reused with other parameters, ``409`` while a key is in
flight, a token-bucket rate limit (``--rate-limit``, requests/s, ``429`` before the
idempotency layer), and ``stripe_500``: a fraction of writes answered 500 by Stripe itself,
half before and half after the write, saved under the key. So a reply dropped on the wire was
still saved, and a wire 500 (``error500``) is not.

Probabilities are set on the command line or at run time through ``POST /_proxy/faults``
(JSON ``{"drop": 0.05, "stripe_500": 0.05, ...}``; ``{}`` stops all faults, the rate limit
stays); ``GET /_proxy/stats`` returns the counts. The proxy stops by itself after
``--max-seconds``.

Usage: python -m bench.fault_proxy --port 8431 --upstream http://127.0.0.1:8430 --drop 0.05
"""

import argparse
import asyncio
import json
import random
import sys
from collections import Counter

from aiohttp import ClientSession, ClientTimeout, web

from devtools.stripe_semantics import StripeRequest, StripeResponse, StripeSemantics

MODES = ("drop", "lost", "delay", "error500", "error500_after")
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "content-encoding",
}
INJECTED_500 = json.dumps(
    {"error": {"type": "api_error", "message": "injected by bench.fault_proxy"}}
)


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        probabilities: dict[str, float],
        delay_seconds: float,
        seed: int | None,
        semantics: StripeSemantics | None = None,
    ):
        self.upstream = upstream.rstrip("/")
        self.probabilities = dict(probabilities)
        self.delay_seconds = delay_seconds
        self.random = random.Random(seed)
        self.stats: Counter = Counter()
        self.session: ClientSession | None = None
        self.semantics = semantics

    def set_faults(self, settings: dict) -> None:
        self.probabilities = {k: float(v) for k, v in settings.items() if k in MODES}
        if self.semantics is not None:
            self.semantics.fail_writes = float(settings.get("stripe_500", 0.0))

    def describe(self) -> dict:
        out = {"probabilities": self.probabilities}
        if self.semantics is not None:
            out["stripe_500"] = self.semantics.fail_writes
            out["rate_limit"] = self.semantics.rate_limit
        return out

    async def through_stripe(self, request: web.Request, body: bytes) -> tuple[int, dict, bytes]:
        """Forward to the stand-in, behind Stripe's semantics when they are on."""
        if self.semantics is None:
            return await self.forward(request, body)

        async def forward() -> StripeResponse:
            status, headers, payload = await self.forward(request, body)
            return StripeResponse(status, headers, payload)

        stripe_request = StripeRequest(
            request.method, request.path, dict(request.headers), body, request.query_string
        )
        answer = await self.semantics.handle_async(stripe_request, forward)
        return answer.status, answer.headers, answer.body

    def draw(self) -> str | None:
        roll = self.random.random()
        for mode in MODES:
            roll -= self.probabilities.get(mode, 0.0)
            if roll < 0:
                return mode
        return None

    async def forward(self, request: web.Request, body: bytes) -> tuple[int, dict, bytes]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return upstream.status, out, payload

    @staticmethod
    def hang_up(request: web.Request) -> web.Response:
        # Close the socket under the request: the client sees its connection reset, no reply.
        request.protocol.force_close()
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/_proxy/stats":
            stripe = dict(self.semantics.stats) if self.semantics is not None else None
            return web.json_response(
                {"faults": dict(self.stats), "stripe": stripe, **self.describe()}
            )
        if request.path == "/_proxy/faults" and request.method == "POST":
            self.set_faults(await request.json())
            return web.json_response(self.describe())
        body = await request.read()
        mode = self.draw()
        self.stats["requests"] += 1
        if mode:
            self.stats[mode] += 1
        if mode == "lost":
            return self.hang_up(request)
        if mode == "error500":
            return web.Response(status=500, text=INJECTED_500, content_type="application/json")
        try:
            status, headers, payload = await self.through_stripe(request, body)
        except (TimeoutError, OSError) as exc:
            self.stats["upstream_errors"] += 1
            return web.Response(
                status=502, text=json.dumps({"error": {"type": "api_error", "message": str(exc)}})
            )
        if status >= 400:
            self.stats[f"upstream_{status}"] += 1
            print(
                f"upstream {status} for {request.method} {request.path}: {payload[:300]!r}",
                file=sys.stderr,
                flush=True,
            )
        if mode == "drop":
            return self.hang_up(request)
        if mode == "error500_after":
            return web.Response(status=500, text=INJECTED_500, content_type="application/json")
        if mode == "delay":
            await asyncio.sleep(self.delay_seconds)
        return web.Response(status=status, headers=headers, body=payload)


async def serve(args) -> None:
    probabilities = {mode: getattr(args, mode) for mode in MODES}
    semantics = None
    if args.stripe_semantics == "on":
        semantics = StripeSemantics(
            rate_limit=args.rate_limit or None, fail_writes=args.stripe_500, seed=args.seed
        )
    proxy = FaultProxy(args.upstream, probabilities, args.delay_seconds, args.seed, semantics)
    proxy.session = ClientSession(timeout=ClientTimeout(total=60))
    app = web.Application(client_max_size=10 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    try:
        await asyncio.sleep(args.max_seconds)
    finally:
        await runner.cleanup()
        await proxy.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8430 (loopback)")
    for mode in MODES:
        parser.add_argument(
            f"--{mode.replace('_', '-')}",
            dest=mode,
            type=float,
            default=0.0,
            help=f"probability of '{mode}' per request",
        )
    parser.add_argument(
        "--stripe-semantics",
        choices=("on", "off"),
        default="on",
        help="Stripe's idempotency layer, rate limit and own 500s behind the wire (default on)",
    )
    parser.add_argument(
        "--rate-limit", type=float, default=25.0, help="requests/s for the account (0: none)"
    )
    parser.add_argument(
        "--stripe-500",
        type=float,
        default=0.0,
        help="fraction of writes Stripe itself answers 500 (saved under the key)",
    )
    parser.add_argument("--delay-seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=1800, help="exit after this long")
    args = parser.parse_args()
    if not args.upstream.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("the upstream must be on loopback")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
