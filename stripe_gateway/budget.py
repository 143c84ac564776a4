"""One budget of Stripe requests for the whole account, shared by every process and host.

Stripe limits the account, not a process: 25 requests/s in test mode, 100/s live, shared by
every host's checkouts, webhook handlers, staff actions, reconcilers and audits. Every call
the gateway makes takes a token here first (``calls._call``), and so does every request
dj-stripe sends through the SDK's global client (``client.BudgetedHTTPClient``, the SDK's
own retries included), so they all spend one budget,
kept where every host sees it: a row of this database (``stripe_gateway_budget``), or Redis
where ``STRIPE_BUDGET_BACKEND = "redis"``.

Priorities, by the caller's *work class* (``with budget.work_class("reconcile"): ...``):

- ``checkout`` (placing an order, its retry, the 3-D Secure completion, the customer's order
  page) is the foreground: it may use the whole rate, queues for its turn for at most
  ``STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS`` and never waits behind background work.
- Everything else (``webhook``, ``staff``, ``reconcile``, ``audit``, ``outbox``, and ``other``
  for a caller that said nothing) is background: together at most ``STRIPE_BACKGROUND_SHARE``
  of the rate, and only while the bucket keeps a reserve of tokens for checkout, so a
  customer arriving finds one at once. A background caller that finds none waits (at most
  ``STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS``), then gets ``TryLater``, so a sweep ends cleanly.
- A 429 seen by anyone starts a shared cool-down (``Retry-After`` if Stripe sent one, else
  ``STRIPE_BUDGET_COOL_DOWN_SECONDS``): background work pauses everywhere, checkout goes on
  at half its rate.

- Stripe also limits most single endpoints (``GET /v1/payment_intents/{id}`` for all ids
  together, a create, a confirm...) to ``STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND`` (25/s), live
  mode included. Where that is below the account's rate (live: 25 of 100), a call takes a
  token from its endpoint's own bucket first (a row or key of its own, ``<name>:<endpoint>``),
  then the account's; in test mode the account's 25/s is the tighter limit and no second
  token is taken.

The bucket is a GCRA (a token bucket kept as one timestamp, "when the bucket is next
empty"): rate ``STRIPE_RATE_LIMIT_PER_SECOND``, ``STRIPE_BUDGET_BURST`` requests at once.
On PostgreSQL a token is taken by one short UPDATE of the row (``DatabaseStore.take``);
when it is refused, the row is read to learn how long to wait, and a decision made from
that read (``decide``) is written back with a compare-and-set on the row's version (Redis
always goes that way, in Lua). Autocommit: no transaction and no lock held, never across
the call to Stripe. Inside a caller's transaction the budget uses a connection of its own
(a row written there would stay locked until that transaction ends); after the checkout
handed its connection back to the pool (``orders.payment.driver.hand_back_connection``) it
takes one for its statements and hands it back again.
"""

import contextlib
import contextvars
import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from stripe_gateway.api_keys import key_shape
from stripe_gateway.errors import TryLater

logger = logging.getLogger(__name__)

CHECKOUT = "checkout"
WEBHOOK = "webhook"
STAFF = "staff"
RECONCILE = "reconcile"
AUDIT = "audit"
OUTBOX = "outbox"
OTHER = "other"
FOREGROUND = frozenset({CHECKOUT})
CLASSES = frozenset({CHECKOUT, WEBHOOK, STAFF, RECONCILE, AUDIT, OUTBOX, OTHER})
BACKENDS = ("database", "redis", "off")

# Stripe's limits per account, and for most single endpoints (docs.stripe.com/rate-limits).
TEST_MODE_LIMIT = 25.0
LIVE_MODE_LIMIT = 100.0
ENDPOINT_LIMIT = 25.0
# Checkout's rate during a cool-down, as a share of the full rate.
COOL_DOWN_CHECKOUT_SHARE = 0.5
# The longest cool-down a Retry-After header may ask for.
MAX_COOL_DOWN_SECONDS = 60.0

_work_class: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stripe_work_class", default=None
)


@contextlib.contextmanager
def work_class(name: str, *, unless_set: bool = False) -> Iterator[None]:
    """Spend the Stripe calls made inside this block as ``name`` (one of ``CLASSES``).

    ``unless_set``: keep a class an outer caller already set (a service shared by several
    entry points names its usual caller). A new thread starts with no class: set it there.
    """
    if name not in CLASSES:
        raise ValueError(f"unknown Stripe work class {name!r}; one of {sorted(CLASSES)}")
    if unless_set and _work_class.get() is not None:
        yield
        return
    token = _work_class.set(name)
    try:
        yield
    finally:
        _work_class.reset(token)


def current_class() -> str:
    return _work_class.get() or OTHER


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    backend: str
    name: str  # the row (or Redis key) of this account's budget
    rate: float  # requests per second for the whole account
    burst: int  # requests at once
    background_share: float
    checkout_wait: float
    background_wait: float
    cool_down: float
    redis_url: str = ""
    endpoint_rate: float = ENDPOINT_LIMIT  # requests per second for one endpoint

    @property
    def per_endpoint(self) -> bool:
        """Whether an endpoint's own limit is tighter than the account's share of it."""
        return self.endpoint_rate < self.rate

    def for_endpoint(self, endpoint: str) -> "Config":
        """The budget of one endpoint: its own row, its own rate and burst."""
        return replace(
            self,
            name=f"{self.name}:{endpoint}",
            rate=self.endpoint_rate,
            burst=max(2, round(self.endpoint_rate / 5)),
        )

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def reserve(self) -> int:
        """Tokens background work leaves in the bucket, so checkout finds one at once."""
        return max(1, self.burst // 2)


def default_rate() -> float:
    """Stripe's own limit for the secret key's mode."""
    return LIVE_MODE_LIMIT if key_shape(settings.STRIPE_SECRET_KEY).live else TEST_MODE_LIMIT


def config() -> Config:
    """The budget's settings, read at call time (tests override them)."""
    rate = getattr(settings, "STRIPE_RATE_LIMIT_PER_SECOND", None) or default_rate()
    burst = getattr(settings, "STRIPE_BUDGET_BURST", None) or max(2, round(rate / 5))
    name = getattr(settings, "STRIPE_BUDGET_NAME", "") or (
        # One budget per account; the key stands for it, never stored in clear.
        "account:" + hashlib.sha256(settings.STRIPE_SECRET_KEY.encode()).hexdigest()[:16]
    )
    return Config(
        backend=getattr(settings, "STRIPE_BUDGET_BACKEND", "database"),
        name=name,
        rate=float(rate),
        burst=int(burst),
        background_share=float(getattr(settings, "STRIPE_BACKGROUND_SHARE", 0.5)),
        checkout_wait=float(getattr(settings, "STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS", 2.0)),
        background_wait=float(getattr(settings, "STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS", 5.0)),
        cool_down=float(getattr(settings, "STRIPE_BUDGET_COOL_DOWN_SECONDS", 1.0)),
        redis_url=getattr(settings, "STRIPE_BUDGET_REDIS_URL", ""),
        endpoint_rate=float(
            getattr(settings, "STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND", None) or ENDPOINT_LIMIT
        ),
    )


# --- the decision (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    tat: float = 0.0
    background_tat: float = 0.0
    cool_until: float = 0.0
    version: int = 0


@dataclass(frozen=True)
class Decision:
    granted: bool
    # Granted: wait this long, then send (the slot is reserved). Refused: ask again after it.
    wait: float
    state: State  # what to write back when granted


def decide(state: State, *, now: float, foreground: bool, cfg: Config) -> Decision:
    """Whether a request may go now, and the budget's state after it (GCRA)."""
    interval = cfg.interval
    tolerance = (cfg.burst - 1) * interval  # how far ahead of now the bucket may run
    cooling = now < state.cool_until
    if foreground:
        if cooling:  # Stripe just said "too many": a slower pace, no bursts
            interval /= COOL_DOWN_CHECKOUT_SHARE
            tolerance = 0.0
        return Decision(
            True,
            max(0.0, state.tat - tolerance - now),
            replace(state, tat=max(state.tat, now) + interval, version=state.version + 1),
        )
    if cooling:
        return Decision(False, state.cool_until - now, state)
    if cfg.background_share <= 0:
        return Decision(False, cfg.background_wait + 1.0, state)
    # Only while the bucket keeps ``reserve`` tokens for checkout after this one, and within
    # the background's own share of the rate (no bursts).
    shared_wait = state.tat - (tolerance - cfg.reserve * interval) - now
    own_wait = state.background_tat - now
    wait = max(shared_wait, own_wait)
    if wait > 0:
        return Decision(False, wait, state)
    return Decision(
        True,
        0.0,
        replace(
            state,
            tat=max(state.tat, now) + interval,
            background_tat=max(state.background_tat, now) + interval / cfg.background_share,
            version=state.version + 1,
        ),
    )


# --- where the budget lives -----------------------------------------------------------------


class Unavailable(Exception):
    """The budget's store (the database, Redis) could not be reached."""


TABLE = "stripe_gateway_budget"


@contextlib.contextmanager
def _cursor():
    """A cursor for the budget's statements that never joins nor pins the caller's state.

    In autocommit each statement commits at once. Inside the caller's transaction a
    connection of the budget's own (closed after use): a write there would hold the row's
    lock until the caller commits, stopping every other host. A connection the caller had
    handed back to the pool is handed back again after the statements.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    # (SQLite, the one-host demo, locks the whole file for the caller's transaction: a
    # second connection would only wait for it. Its statements join the caller's instead.)
    if conn.in_atomic_block and conn.vendor == "postgresql":
        own = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            with own.cursor() as cursor:
                yield cursor, own
        finally:
            own.close()
        return
    handed_back = conn.connection is None and bool(getattr(conn, "pool", None))
    try:
        with conn.cursor() as cursor:
            yield cursor, conn
    finally:
        if handed_back:
            conn.close()


class DatabaseStore:
    """The budget in one row of this database (``RequestBudget``), on the database's clock."""

    def _now_sql(self, conn) -> str:
        if conn.vendor == "postgresql":
            return "extract(epoch from clock_timestamp())::float8"
        return "%s"  # SQLite (the demo, one host): this process's clock

    def _params(self, conn, *params):
        return params if conn.vendor == "postgresql" else (time.time(), *params)

    def take(self, name: str, *, foreground: bool, cfg: Config, max_wait: float) -> float | None:
        """Take a token in one statement if ``decide`` would grant one (PostgreSQL only).

        Returns how long to wait before sending, or None: refused, no row yet, or not
        PostgreSQL (then ``read`` and ``write`` decide). The same rules as ``decide``, as one
        UPDATE whose conditions and new values read the row itself, so a concurrent update
        is seen (PostgreSQL re-checks the row it waited for).
        """
        interval = cfg.interval
        tolerance = (cfg.burst - 1) * interval
        params = {
            "name": name,
            "interval": interval,
            "slow": interval / COOL_DOWN_CHECKOUT_SHARE,
            "tolerance": tolerance,
            "max_wait": max_wait,
            "bg_tolerance": tolerance - cfg.reserve * interval,
            "bg_interval": interval / cfg.background_share if cfg.background_share > 0 else 0,
        }
        cooling = "n.now < b.cool_until"
        if foreground:
            step = f"CASE WHEN {cooling} THEN %(slow)s ELSE %(interval)s END"
            slack = f"CASE WHEN {cooling} THEN 0 ELSE %(tolerance)s END"
            sql = (
                f"UPDATE {TABLE} AS b SET tat = GREATEST(b.tat, n.now) + {step}, "
                "version = b.version + 1, granted = b.granted + 1 "
                f"FROM (SELECT {self._now_sql_pg} AS now) AS n "
                f"WHERE b.name = %(name)s AND b.tat - {slack} - n.now <= %(max_wait)s "
                # b.tat is the new value here: less one step, it is what the wait was from.
                f"RETURNING GREATEST(0, b.tat - {step} - {slack} - n.now)"
            )
        elif cfg.background_share > 0:
            sql = (
                f"UPDATE {TABLE} AS b SET tat = GREATEST(b.tat, n.now) + %(interval)s, "
                "background_tat = GREATEST(b.background_tat, n.now) + %(bg_interval)s, "
                "version = b.version + 1, granted = b.granted + 1 "
                f"FROM (SELECT {self._now_sql_pg} AS now) AS n "
                f"WHERE b.name = %(name)s AND NOT {cooling} "
                "AND b.tat - %(bg_tolerance)s - n.now <= 0 AND b.background_tat - n.now <= 0 "
                "RETURNING 0.0"
            )
        else:
            return None
        try:
            with _cursor() as (cursor, conn):
                if conn.vendor != "postgresql":
                    return None
                cursor.execute(sql, params)
                row = cursor.fetchone()
        except DatabaseError as exc:
            raise Unavailable(str(exc)) from exc
        return None if row is None else float(row[0])

    _now_sql_pg = "extract(epoch from clock_timestamp())::float8"

    def read(self, name: str) -> tuple[State, float]:
        try:
            with _cursor() as (cursor, conn):
                now_sql = self._now_sql(conn)
                sql = (
                    f"SELECT tat, background_tat, cool_until, version, {now_sql} "
                    f"FROM {TABLE} WHERE name = %s"
                )
                cursor.execute(sql, self._params(conn, name))
                row = cursor.fetchone()
                if row is None:
                    cursor.execute(
                        f"INSERT INTO {TABLE} (name, tat, background_tat, cool_until, version, "
                        "granted, rate_limited) VALUES (%s, 0, 0, 0, 0, 0, 0) "
                        "ON CONFLICT (name) DO NOTHING",
                        [name],
                    )
                    cursor.execute(sql, self._params(conn, name))
                    row = cursor.fetchone()
        except DatabaseError as exc:
            raise Unavailable(str(exc)) from exc
        return State(row[0], row[1], row[2], row[3]), row[4]

    def write(self, name: str, old: State, new: State) -> bool:
        try:
            with _cursor() as (cursor, _conn):
                cursor.execute(
                    f"UPDATE {TABLE} SET tat = %s, background_tat = %s, version = version + 1, "
                    "granted = granted + 1 WHERE name = %s AND version = %s",
                    [new.tat, new.background_tat, name, old.version],
                )
                return cursor.rowcount == 1
        except DatabaseError as exc:
            raise Unavailable(str(exc)) from exc

    def cool_down(self, name: str, seconds: float) -> None:
        try:
            with _cursor() as (cursor, conn):
                greatest = "GREATEST" if conn.vendor == "postgresql" else "MAX"
                # One statement, the row made if this is the budget's first word.
                cursor.execute(
                    f"INSERT INTO {TABLE} AS b (name, tat, background_tat, cool_until, version, "
                    f"granted, rate_limited) VALUES (%s, 0, 0, {self._now_sql(conn)} + %s, 1, 0, "
                    "1) ON CONFLICT (name) DO UPDATE SET cool_until = "
                    f"{greatest}(b.cool_until, excluded.cool_until), "
                    "rate_limited = b.rate_limited + 1, version = b.version + 1",
                    [name, *self._params(conn, seconds)],
                )
        except DatabaseError as exc:
            raise Unavailable(str(exc)) from exc

    def snapshot(self, name: str) -> dict:
        """The row as it stands (for tests, benchmarks and the health page)."""
        with _cursor() as (cursor, _conn):
            cursor.execute(
                f"SELECT granted, rate_limited, cool_until FROM {TABLE} WHERE name = %s", [name]
            )
            row = cursor.fetchone()
        return dict(zip(("granted", "rate_limited", "cool_until"), row or (0, 0, 0.0), strict=True))


# Redis: the same state in a hash, each step one Lua script (atomic in Redis, on its clock).
_READ = """
local t = redis.call('TIME')
local v = redis.call('HMGET', KEYS[1], 'tat', 'background_tat', 'cool_until', 'version')
local now = t[1] .. '.' .. string.format('%06d', t[2])
return {v[1] or '0', v[2] or '0', v[3] or '0', v[4] or '0', now}
"""
_WRITE = """
local version = redis.call('HGET', KEYS[1], 'version') or '0'
if version ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'tat', ARGV[1], 'background_tat', ARGV[2],
           'version', tostring(tonumber(version) + 1))
redis.call('HINCRBY', KEYS[1], 'granted', 1)
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""
_COOL_DOWN = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'cool_until') or '0')
if until_ > current then redis.call('HSET', KEYS[1], 'cool_until', tostring(until_)) end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
redis.call('HSET', KEYS[1], 'version', tostring(version + 1))
redis.call('HINCRBY', KEYS[1], 'rate_limited', 1)
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""


class RedisStore:
    """The budget in a Redis hash (``pip install -e .[redis]``)."""

    def __init__(self, url: str):
        import redis  # the optional extra: only when configured

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._read = self.client.register_script(_READ)
        self._write = self.client.register_script(_WRITE)
        self._cool_down = self.client.register_script(_COOL_DOWN)

    @staticmethod
    def key(name: str) -> str:
        return f"stripe-budget:{name}"

    def take(self, name: str, *, foreground: bool, cfg: Config, max_wait: float) -> None:
        """No one-step path here: ``read`` and ``write`` decide (two round trips to Redis)."""
        return None

    def read(self, name: str) -> tuple[State, float]:
        try:
            tat, bg, cool, version, now = self._read(keys=[self.key(name)])
        except self._errors as exc:
            raise Unavailable(str(exc)) from exc
        return State(float(tat), float(bg), float(cool), int(version)), float(now)

    def write(self, name: str, old: State, new: State) -> bool:
        try:
            return bool(
                self._write(
                    keys=[self.key(name)],
                    args=[repr(new.tat), repr(new.background_tat), str(old.version)],
                )
            )
        except self._errors as exc:
            raise Unavailable(str(exc)) from exc

    def cool_down(self, name: str, seconds: float) -> None:
        try:
            self._cool_down(keys=[self.key(name)], args=[repr(seconds)])
        except self._errors as exc:
            raise Unavailable(str(exc)) from exc

    def snapshot(self, name: str) -> dict:
        values = self.client.hmget(self.key(name), "granted", "rate_limited", "cool_until")
        granted, limited, cool = (v or b"0" for v in values)
        return {"granted": int(granted), "rate_limited": int(limited), "cool_until": float(cool)}


_redis_stores: dict[str, RedisStore] = {}
_redis_lock = threading.Lock()


def store(cfg: Config) -> DatabaseStore | RedisStore:
    if cfg.backend == "redis":
        with _redis_lock:
            if cfg.redis_url not in _redis_stores:
                _redis_stores[cfg.redis_url] = RedisStore(cfg.redis_url)
            return _redis_stores[cfg.redis_url]
    return DatabaseStore()


# --- what the gateway calls -----------------------------------------------------------------


def acquire(work: str | None = None, *, endpoint: str = "") -> float:
    """Take a token for one Stripe request of ``work`` (the current class by default).

    ``endpoint`` names the call (``payment_intents.retrieve``): where Stripe's limit for one
    endpoint is below the account's (``Config.per_endpoint``), a token of that endpoint's own
    bucket is taken first, with the same wait.

    Returns the seconds it waited. Raises ``TryLater`` when none comes within the class's
    wait: no request was sent, and the same key may be sent again later. If the budget's
    store is unreachable, checkout goes ahead (the customer is not stopped by our own
    bookkeeping) and background work is told to try later.
    """
    cfg = config()
    if cfg.backend == "off":
        return 0.0
    work = work or current_class()
    foreground = work in FOREGROUND
    started = time.monotonic()
    deadline = started + (cfg.checkout_wait if foreground else cfg.background_wait)
    where = store(cfg)
    try:
        if endpoint and cfg.per_endpoint:
            # Every class queues alike for an endpoint: its share rules are the account's.
            _take(where, cfg.for_endpoint(endpoint), True, deadline, work)
        _take(where, cfg, foreground, deadline, work)
    except Unavailable:
        logger.warning("stripe request budget unreachable", extra={"work_class": work})
        if not foreground:
            raise TryLater("Stripe request budget unreachable (nothing was sent)") from None
    return time.monotonic() - started


def _take(
    where: "DatabaseStore | RedisStore", cfg: Config, foreground: bool, deadline: float, work: str
) -> None:
    """Take one token of ``cfg``'s bucket by ``deadline`` (sleeping until its slot), or raise
    ``TryLater`` (or ``Unavailable``)."""
    started = time.monotonic()
    while True:
        remaining = deadline - time.monotonic()
        wait = where.take(cfg.name, foreground=foreground, cfg=cfg, max_wait=remaining)
        if wait is not None:  # the usual case: one statement
            if wait > 0:
                time.sleep(wait)
            return
        state, now = where.read(cfg.name)
        decision = decide(state, now=now, foreground=foreground, cfg=cfg)
        remaining = deadline - time.monotonic()
        if decision.wait > remaining:
            logger.info(
                "stripe request budget exhausted",
                extra={"work_class": work, "wait_needed": round(decision.wait, 3)},
            )
            raise TryLater(
                f"Stripe request budget: no token for {work} work within "
                f"{deadline - started:g} s (nothing was sent)"
            )
        if decision.granted:
            if not where.write(cfg.name, state, decision.state):
                continue  # another caller took a token meanwhile: decide again
            if decision.wait > 0:
                time.sleep(decision.wait)
            return
        # Refused for now: ask again when a token is due, spread so waiters do not stampede.
        time.sleep(min(decision.wait + random.uniform(0, cfg.interval), max(remaining, 0)))


def note_rate_limited(*, code: str = "", retry_after: str = "") -> None:
    """Stripe answered 429: every process sharing the budget slows down for a while.

    A ``lock_timeout`` is contention on one object, not the account's rate: no cool-down.
    """
    if code == "lock_timeout":
        return
    cfg = config()
    if cfg.backend == "off":
        return
    seconds = cfg.cool_down
    try:
        if retry_after:
            seconds = min(max(float(retry_after), 0.0), MAX_COOL_DOWN_SECONDS) or seconds
    except ValueError:
        pass  # an HTTP date or garbage: our own cool-down
    try:
        store(cfg).cool_down(cfg.name, seconds)
    except Unavailable:
        logger.warning("stripe request budget unreachable", extra={"work_class": current_class()})
    logger.warning(
        "stripe rate limit: cooling down",
        extra={"work_class": current_class(), "cool_down_seconds": seconds},
    )


def snapshot() -> dict:
    """This account's budget row: tokens granted, 429s seen, cool-down end (epoch seconds)."""
    cfg = config()
    return store(cfg).snapshot(cfg.name)
