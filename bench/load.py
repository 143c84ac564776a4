"""Load generator: prepared HTTP requests sent N at a time; their latencies, statuses, wall time."""

import asyncio
import time
from collections import Counter


async def _fire(
    requests_: list, concurrency: int, *, seconds: float
) -> tuple[list[float], Counter, float]:
    """Send prepared requests, ``concurrency`` at a time; return latencies, statuses, wall time."""
    import aiohttp

    latencies: list[float] = []
    statuses: Counter = Counter()
    queue = list(reversed(requests_))
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as http:

        async def one_client():
            while queue and time.monotonic() < deadline:
                method, url, headers, data = queue.pop()
                started = time.perf_counter()
                try:
                    async with http.request(
                        method, url, headers=headers, data=data, allow_redirects=False
                    ) as r:
                        await r.read()
                        statuses[r.status] += 1
                except aiohttp.ClientError as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return latencies, statuses, time.perf_counter() - started


def fire(
    requests_: list, concurrency: int, *, seconds: float
) -> tuple[list[float], Counter, float]:
    """Send ``(method, url, headers, data)`` tuples for at most ``seconds`` (no cookies kept)."""
    return asyncio.run(_fire(requests_, concurrency, seconds=seconds))
