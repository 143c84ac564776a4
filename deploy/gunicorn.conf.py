"""gunicorn settings for the shop's web servers: threaded (gthread) workers sharing a pool of
database connections.

    .venv/bin/gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:8000

Why threads. A checkout makes two Stripe round trips (create the PaymentIntent, then confirm
it), each 100-400 ms against real Stripe, around ~15 ms of CPU of its own. A sync worker
serves one request at a time and sits idle through both: with 300 ms per call, 4 sync
workers top out near 4 / 0.6 s = 6.7 checkouts/s however many cores there are. A gthread
worker hands each request to one of ``threads`` threads; a thread waiting on Stripe releases
the GIL, so the process keeps its core busy with the other threads' requests.

Safe on threads, checked along the checkout's path: the stripe SDK client is one per thread
(``stripe_gateway/client.py``: a ``requests`` session is not thread-safe); Django's database
connections and ``transaction.on_commit`` callbacks are per thread, and the pool below is
thread-safe; sessions are per request (``shop/sessions.py`` keeps no state); django-q2's
``async_task`` builds a new broker for each call (an insert on the calling thread's own
connection, or a new Redis client). The shop keeps no mutable module-level state.
(ASGI was the other way: the stripe SDK has async methods, but the ORM is synchronous in
Django 5.2, so every query of the checkout would hop to a thread anyway, and the whole
payment path would be written twice. Threads keep one path.)

How many threads. By Little's law a process serving R checkouts/s, each holding a thread for
2 x Stripe's latency plus its own time (queueing for the CPU included), needs R x that many
threads. A process here serves up to ~50 checkouts/s (one core each at most, shared with
PostgreSQL); at 300 ms per call a checkout holds its thread ~0.65 s when the CPU is free and
longer when it is busy, so 50 x 0.65 = ~33 threads are the least, and 64 leave room for the
queueing. Fewer threads cap throughput at workers x threads / 0.65 s whatever the CPU could
do. More are cheap while they share a pool of connections (below); when Stripe answers at
once they are all runnable and contend for the GIL, a cost the benchmark could not tell
from the machine's noise (README, ``python -m bench.bench checkout-latency``).

Database connections. A Django thread holds its own connection (persistent for
``DB_CONN_MAX_AGE``), and PostgreSQL allows ``max_connections`` (100 by default, 3 reserved
for superusers) for every host, ``run_worker`` cluster (Q_WORKERS + ~3, plus the
reconciler's PAYMENTS_RECONCILE_CONCURRENCY threads) and management command together:
2 workers x 64 threads would not fit. So the threads of a worker share a pool of
``DB_POOL_SIZE`` connections (Django's psycopg_pool support, ``shop/settings.py``), and the
checkout gives its connection back to the pool before each Stripe call
(``orders/payment/driver.py``): a thread holds one only between its Stripe calls, a few tens
of ms of each 0.65 s. 16 per worker leave room (4 per worker already cost ~10% at 300 ms
in the benchmark); a thread that finds none free waits for one (``DB_POOL_TIMEOUT``). A host
then opens workers x DB_POOL_SIZE connections (2 x 16 = 32 here), and all hosts together must
fit: the sum of workers x DB_POOL_SIZE + clusters + ~10 spare <= max_connections -
superuser_reserved_connections. At startup this file logs the figure against the server's
max_connections and warns when this host alone would not fit. Past that, raise
max_connections or put PgBouncer in transaction mode in front (not measured here). Other
pages that call Stripe (the 3-D Secure page reads its PaymentIntent, support actions) keep
their connection through the call: few, and the pool's wait covers them.
``DB_POOL_SIZE=0`` turns the pool off (one connection per thread: then size ``threads`` so
that they fit).

Every setting can be overridden on the command line (``--bind``, ``--workers``,
``--threads``) or with ``WEB_WORKERS``, ``WEB_THREADS`` and ``DB_POOL_SIZE``.
"""

import logging
import os

wsgi_app = "shop.wsgi:application"

# Loopback unless told otherwise (a load balancer in front gives its own address). Set here
# because gunicorn's own default binds 0.0.0.0:$PORT when PORT is in the environment.
bind = ["127.0.0.1:8000"]

worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", os.cpu_count() or 1))
threads = int(os.environ.get("WEB_THREADS", 64))
# Each worker's threads share this many connections (shop/settings.py reads it).
pool_size = int(os.environ.get("DB_POOL_SIZE", 16))
raw_env = [f"DB_POOL_SIZE={pool_size}"]

# The worker's heartbeat, not a request deadline: a gthread worker's main loop notifies the
# arbiter while its threads wait on Stripe (the SDK gives up after STRIPE_TIMEOUT_SECONDS).
timeout = 30
# A restart or stop lets requests in flight finish (a checkout takes well under a second
# plus Stripe's answers); one cut off anyway leaves its order pending, which the customer's
# reload or the reconciler finishes. Under the 15 s scripts/run waits before SIGKILL.
graceful_timeout = 10
# Behind a load balancer that reuses connections; an idle keep-alive connection holds no
# thread.
keepalive = 5

# gunicorn >= 25 opens a control socket at one fixed path per user by default
# (~/.gunicorn/gunicorn.ctl): two servers on one machine would fight over it.
control_socket_disable = True

# Left to the worker cluster, management commands and an operator's psql.
SPARE_CONNECTIONS = 10


def when_ready(server) -> None:
    """Log the connections this host may open, against PostgreSQL's max_connections."""
    log, cfg = server.log, server.cfg
    shape = f"gthread: {cfg.workers} workers x {cfg.threads} threads"
    try:
        db = _database_settings()
    except Exception as exc:  # noqa: BLE001 - a figure for the log, never a reason not to serve
        log.warning("%s; could not read the database settings: %s", shape, exc)
        return
    if db["ENGINE"] != "django.db.backends.postgresql":
        log.info("%s; %s: a connection per thread, no pool", shape, db["ENGINE"].rsplit(".", 1)[-1])
        return
    planned = cfg.workers * (pool_size or cfg.threads)
    log.info(
        "%s, %s: up to %d database connections from this host",
        shape,
        f"a pool of {pool_size} connections each" if pool_size else "a connection per thread",
        planned,
    )
    try:
        limit, reserved = _postgres_connection_limit(db)
    except Exception as exc:  # noqa: BLE001 - as above
        log.warning("could not read PostgreSQL's max_connections: %s", exc)
        return
    usable = limit - reserved - SPARE_CONNECTIONS
    log.log(
        logging.WARNING if planned > usable else logging.INFO,
        "PostgreSQL max_connections %d, %d reserved, %d spare: %d for the web hosts; this "
        "host takes up to %d%s",
        limit,
        reserved,
        SPARE_CONNECTIONS,
        usable,
        planned,
        "" if planned <= usable else ": TOO MANY, lower DB_POOL_SIZE or raise max_connections",
    )


def _database_settings() -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.conf import settings  # the settings only: no app is loaded in the arbiter

    return settings.DATABASES["default"]


def _postgres_connection_limit(db: dict) -> tuple[int, int]:
    """PostgreSQL's (max_connections, superuser_reserved_connections)."""
    import psycopg

    params = {
        "dbname": db["NAME"],
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
        "host": db.get("HOST"),
        "port": db.get("PORT"),
        "connect_timeout": 5,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    return limit, reserved
