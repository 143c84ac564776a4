"""Stripe's request semantics in front of a stand-in that has none (localstripe), for tests only.

localstripe ignores idempotency keys, never rate-limits and never fails by itself. Real Stripe
(``docs.stripe.com/api/idempotent_requests``, ``/idempotency``, ``/error-low-level``,
``/rate-limits``; see ``../shared/STRIPE.md``):

- **Rate limit first.** Over the account's budget a request is answered ``429``
  (``code=rate_limit``) before the idempotency layer sees it: nothing done, nothing saved.
- **Idempotency (POST).** The first request with a key, per account, is saved (status and
  body) once the endpoint began executing, *500s included*, and every retry with that key and
  the same parameters gets the saved answer back with ``Idempotent-Replayed: true``. The same
  key with other parameters (or on another endpoint) is answered ``400``
  ``type=idempotency_error`` (stripe-python's ``IdempotencyError``); a retry while the first
  request is still executing is answered ``409`` ``code=idempotency_key_in_use`` (an
  ``APIError`` in stripe-python, which maps no 409 to anything else). Neither is saved: "if
  incoming parameters fail validation, or the request conflicts with another that's executing
  concurrently, we don't save any idempotent result". Keys may be pruned after 24 hours; a key
  reused after that runs as a new request.
- **Stripe's own 500s.** Stripe can fail after the endpoint began: the write may or may not
  have happened, and the 500 is saved under the key. ``500_before`` answers without the
  stand-in ever seeing the request; ``500_after`` forwards it (the write happens), then answers
  500. Both are replayed to every retry with the same key, and say so with
  ``Stripe-Should-Retry: false`` (sending the same request again is a no-op).
  ``500_unsaved`` is a failure before the endpoint began (nothing done, nothing saved) and
  says ``Stripe-Should-Retry: true``: the same key sent again runs the request.

What counts as "validation" here: the stand-in cannot tell a parameter error from a state
error (both are ``400 Bad request``), so every 400 and 404 it answers is taken as validation
and not saved; 402 (a decline) and every 2xx and 5xx it answers are saved.

``StripeSemantics`` is a plain, thread-safe object with a synchronous core: ``begin`` (rate
limit, replay, conflicts, Stripe's own 500s), then the caller forwards the request to the
stand-in, then ``finish`` (save, 500 after the write). ``handle`` does all three around a
``forward`` callable; an asyncio server awaits its own forward between ``begin`` and
``finish`` (``handle_async``). It imports nothing of the shop: ``tests/`` wraps it under the
stripe SDK's HTTP client, ``bench/fault_proxy.py`` in front of the chaos run's stand-in.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

KEY_WINDOW = timedelta(hours=24)
# What Stripe itself can answer for a request: planned by a test, or drawn at random.
ANSWERS = ("500_before", "500_after", "500_unsaved", "429", "409")
REPLAYED_HEADER = "Idempotent-Replayed"
SHOULD_RETRY_HEADER = "Stripe-Should-Retry"


@dataclass(frozen=True)
class StripeRequest:
    method: str
    path: str  # without the query string
    headers: Mapping[str, str]
    body: bytes = b""
    query: str = ""

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == name), "")

    @property
    def idempotency_key(self) -> str:
        return self.header("Idempotency-Key")

    @property
    def account(self) -> str:
        """Whose keys these are: the API key (and the connected account, if any)."""
        return f"{self.header('Authorization')}|{self.header('Stripe-Account')}"

    def fingerprint(self) -> tuple:
        """What Stripe compares for a reused key: the endpoint and the parameters (any order)."""
        body = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else self.body
        params = sorted(parse_qsl(body or "", keep_blank_values=True))
        query = sorted(parse_qsl(self.query or "", keep_blank_values=True))
        return (self.method.upper(), self.path, tuple(params), tuple(query))


@dataclass
class StripeResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def replayed(self) -> StripeResponse:
        return StripeResponse(self.status, {**self.headers, REPLAYED_HEADER: "true"}, self.body)


def error_response(status: int, error: dict, headers: dict | None = None) -> StripeResponse:
    return StripeResponse(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps({"error": error}).encode(),
    )


def stripe_500() -> StripeResponse:
    return error_response(
        500,
        {
            "type": "api_error",
            "message": "An unknown error occurred (Stripe itself, saved under the key).",
        },
        # Saved and replayed: the same request sent again would only get this answer back.
        {SHOULD_RETRY_HEADER: "false"},
    )


def stripe_500_unsaved() -> StripeResponse:
    """Stripe failed before the endpoint began: nothing done, nothing saved under the key."""
    return error_response(
        500,
        {"type": "api_error", "message": "An unknown error occurred (before the request ran)."},
        {SHOULD_RETRY_HEADER: "true"},
    )


def rate_limited() -> StripeResponse:
    return error_response(
        429,
        {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
        },
    )


def key_in_use(key: str) -> StripeResponse:
    return error_response(
        409,
        {
            "type": "invalid_request_error",
            "code": "idempotency_key_in_use",
            "message": "There is currently another in-progress request using this Idempotent "
            "Key (that probably means you submitted twice, and the other request is still "
            f"going through): {key}. Please try again later.",
        },
    )


def key_reused(key: str) -> StripeResponse:
    return error_response(
        400,
        {
            "type": "idempotency_error",
            "message": "Keys for idempotent requests can only be used with the same parameters "
            f"they were first used with. Try using a key other than '{key}' if you meant to "
            "execute a different request.",
        },
    )


@dataclass
class Planned:
    """Stripe's own answer for the next ``times`` requests that match (a test's plan).

    ``path`` is a regular expression searched in the request's path (``/confirm$``,
    ``/v1/payment_intents$`` for a create only); ``method`` ``None`` matches any method;
    ``query`` one searched in its query string (``starting_after=``: a list's later pages).
    """

    answer: str
    method: str | None = "POST"
    path: str = ""
    key: str | None = None
    times: int = 1
    hits: int = 0
    query: str = ""

    def matches(self, request: StripeRequest) -> bool:
        return (
            self.hits < self.times
            and (self.method is None or request.method.upper() == self.method)
            and re.search(self.path, request.path) is not None
            and (self.key is None or request.idempotency_key == self.key)
            and re.search(self.query, request.query) is not None
        )


@dataclass(frozen=True)
class Seen:
    """One request as Stripe answered it: ``how`` is ``forwarded``, ``replayed``, ``429``,
    ``409``, ``idempotency_error``, ``500_before``, ``500_after`` or ``500_unsaved``."""

    method: str
    path: str
    key: str
    status: int
    how: str


@dataclass
class _Saved:
    fingerprint: tuple
    response: StripeResponse
    saved_at: datetime


@dataclass
class Ticket:
    """A request ``begin`` let through to the stand-in; ``finish`` books its answer."""

    request: StripeRequest
    slot: tuple | None = None  # (account, key) for a keyed POST
    fingerprint: tuple = ()
    fail_after: bool = False


@dataclass
class TokenBucket:
    rate: float  # requests per second; burst of the same size
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self):
        self.tokens = self.rate
        self.at = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StripeSemantics:
    """Stripe's idempotency layer, rate limiter and own 500s, in front of a stand-in.

    ``now``: the clock that ages saved keys (a test passes its test clock). ``rate_limit``:
    requests per second for the whole account (``None``: no limit). ``fail_writes``: the
    fraction of keyed POSTs Stripe answers 500 by itself (saved), of which ``fail_after_share``
    after the write happened. ``idempotency=False`` is localstripe alone with a test's planned
    answers given once each: nothing saved, replayed or refused (to show what that misses).
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = _utcnow,
        rate_limit: float | None = None,
        fail_writes: float = 0.0,
        fail_after_share: float = 0.5,
        seed: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        window: timedelta = KEY_WINDOW,
        idempotency: bool = True,
    ):
        self.idempotency = idempotency
        self.now = now
        self.monotonic = monotonic
        self.window = window
        self.fail_writes = fail_writes
        self.fail_after_share = fail_after_share
        self.random = random.Random(seed)
        self._lock = threading.Lock()
        self._saved: dict[tuple, _Saved] = {}
        self._in_flight: set[tuple] = set()
        self._planned: list[Planned] = []
        self._bucket: TokenBucket | None = None
        self.stats: Counter = Counter()
        # The latest requests as answered, for tests to read (bounded for long runs).
        self.history: deque[Seen] = deque(maxlen=20_000)
        self.set_rate_limit(rate_limit)

    # --- configuration ------------------------------------------------------------------------

    def set_rate_limit(self, per_second: float | None) -> None:
        with self._lock:
            self._bucket = TokenBucket(per_second, self.monotonic) if per_second else None

    @property
    def rate_limit(self) -> float | None:
        return self._bucket.rate if self._bucket else None

    def plan(
        self,
        answer: str,
        *,
        method: str | None = "POST",
        path: str = "",
        key: str | None = None,
        times: int = 1,
        query: str = "",
    ) -> Planned:
        """Answer the next ``times`` matching requests with ``answer`` (one of ``ANSWERS``)."""
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}; one of {ANSWERS}")
        planned = Planned(answer, method and method.upper(), path, key, times, query=query)
        with self._lock:
            self._planned.append(planned)
        return planned

    def plans_left(self) -> int:
        """How many planned answers are still to be given."""
        with self._lock:
            return sum(p.times - p.hits for p in self._planned)

    def clear_plans(self) -> None:
        """Stripe stops misbehaving (what it already saved under keys stays saved)."""
        with self._lock:
            self._planned.clear()

    def reset(self) -> None:
        """Forget every key, plan and count (a test's stand-in was flushed)."""
        with self._lock:
            self._saved.clear()
            self._in_flight.clear()
            self._planned.clear()
            self.stats.clear()
            self.history.clear()
            if self._bucket:
                self._bucket = TokenBucket(self._bucket.rate, self.monotonic)

    def saved_keys(self) -> list[str]:
        with self._lock:
            return [key for _, key in self._saved]

    def seen(self, path: str = "", *, method: str | None = "POST") -> list[Seen]:
        """The requests answered so far whose path matches the regular expression ``path``."""
        with self._lock:
            return [
                s
                for s in self.history
                if (method is None or s.method == method) and re.search(path, s.path)
            ]

    def _note(self, request: StripeRequest, response: StripeResponse, how: str) -> StripeResponse:
        method, key = request.method.upper(), request.idempotency_key
        self.history.append(Seen(method, request.path, key, response.status, how))
        return response

    # --- the request path ---------------------------------------------------------------------

    def _take_plan(self, request: StripeRequest, answers: tuple[str, ...]) -> str | None:
        for planned in self._planned:
            if planned.answer in answers and planned.matches(request):
                planned.hits += 1
                return planned.answer
        return None

    def _prune(self, now: datetime) -> None:
        expired = [slot for slot, s in self._saved.items() if now - s.saved_at >= self.window]
        for slot in expired:
            del self._saved[slot]
        self.stats["keys pruned"] += len(expired)

    def begin(self, request: StripeRequest) -> StripeResponse | Ticket:
        """Stripe's answer if it is known before the stand-in acts, else a ticket to forward."""
        with self._lock:
            self.stats["requests"] += 1
            # The rate limiter comes before the idempotency layer: a 429 is never saved.
            if self._take_plan(request, ("429",)) or (self._bucket and not self._bucket.take()):
                self.stats["429 rate limited"] += 1
                return self._note(request, rate_limited(), "429")
            if self._take_plan(request, ("500_unsaved",)):
                # Before the idempotency layer, as a 429 is: the key stays unused.
                self.stats["Stripe 500 before the endpoint began (not saved)"] += 1
                return self._note(request, stripe_500_unsaved(), "500_unsaved")
            key = request.idempotency_key
            if request.method.upper() != "POST" or not key:
                return Ticket(request)
            if not self.idempotency:
                answer = self._take_plan(request, ("409", "500_before", "500_after"))
                if answer == "409":
                    return self._note(request, key_in_use(key), "409")
                if answer == "500_before":
                    return self._note(request, stripe_500(), "500_before")
                return Ticket(request, fail_after=answer == "500_after")
            self._prune(self.now())
            slot = (request.account, key)
            fingerprint = request.fingerprint()
            saved = self._saved.get(slot)
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    self.stats["400 idempotency_error (key reused, other parameters)"] += 1
                    return self._note(request, key_reused(key), "idempotency_error")
                self.stats[f"replayed {saved.response.status}"] += 1
                return self._note(request, saved.response.replayed(), "replayed")
            if slot in self._in_flight or self._take_plan(request, ("409",)):
                self.stats["409 key in use"] += 1
                return self._note(request, key_in_use(key), "409")
            answer = self._take_plan(request, ("500_before", "500_after"))
            if answer is None and self.fail_writes and self.random.random() < self.fail_writes:
                after = self.random.random() < self.fail_after_share
                answer = "500_after" if after else "500_before"
            if answer == "500_before":
                # The endpoint began, failed before writing anything, and saved its 500.
                self.stats["Stripe 500 before the write (saved)"] += 1
                response = stripe_500()
                self._saved[slot] = _Saved(fingerprint, response, self.now())
                return self._note(request, response, "500_before")
            self._in_flight.add(slot)
            return Ticket(request, slot, fingerprint, fail_after=answer == "500_after")

    def finish(self, ticket: Ticket, response: StripeResponse) -> StripeResponse:
        """Book the stand-in's answer to a forwarded request; return what Stripe answers."""
        with self._lock:
            how = "forwarded"
            if ticket.fail_after:
                self.stats["Stripe 500 after the write" + (" (saved)" if ticket.slot else "")] += 1
                response, how = stripe_500(), "500_after"
            if ticket.slot is not None:
                self._in_flight.discard(ticket.slot)
                # Validation (or the stand-in's own conflict) is not saved: nothing began.
                if response.status not in (400, 404, 409, 429):
                    self._saved[ticket.slot] = _Saved(ticket.fingerprint, response, self.now())
            return self._note(ticket.request, response, how)

    def abort(self, ticket: Ticket) -> None:
        """The forward raised (the stand-in did not answer): nothing is saved."""
        if ticket.slot is not None:
            with self._lock:
                self._in_flight.discard(ticket.slot)

    def handle(
        self, request: StripeRequest, forward: Callable[[], StripeResponse]
    ) -> StripeResponse:
        decided = self.begin(request)
        if isinstance(decided, StripeResponse):
            return decided
        try:
            response = forward()
        except BaseException:
            self.abort(decided)
            raise
        return self.finish(decided, response)

    async def handle_async(
        self, request: StripeRequest, forward: Callable[[], Awaitable[StripeResponse]]
    ) -> StripeResponse:
        """``handle`` for an asyncio server: the sync core around an awaited forward."""
        decided = self.begin(request)
        if isinstance(decided, StripeResponse):
            return decided
        try:
            response = await forward()
        except BaseException:
            self.abort(decided)
            raise
        return self.finish(decided, response)
