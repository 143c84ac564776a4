"""The benchmarks' stack: database, Stripe fake and gunicorn on loopback, and the load pointed
at it.
"""

import os

from bench import load, shopdata, stack
from bench.report import log
from bench.stack import PY, Stack

# BENCH_DB: another database for a second checkout of the repo running its own benchmarks.
DB_NAME = os.environ.get("BENCH_DB", "shop_bench")
TAG = "convergent-shop-bench"
WEBHOOK_SECRET = "whsec_bench"


class Bench:
    """One benchmark run: its processes, its environment, and what the benchmarks share."""

    def __init__(self, args):
        self.args = args
        self.stack = Stack("bench")
        self.ports = {name: stack.free_port() for name in ("stripe", "web")}
        self.stripe_base = f"http://127.0.0.1:{self.ports['stripe']}"
        # The Stripe fakes a benchmark may point a web server at, by process name.
        self.stripe_ports = {"fast_stripe": self.ports["stripe"]}
        self.web_base = f"http://127.0.0.1:{self.ports['web']}"
        self.env = stack.base_env(
            DJANGO_SETTINGS_MODULE="bench.settings",
            DATABASE_URL=f"{stack.PG_ADMIN_URL}/{DB_NAME}",
            STRIPE_API_BASE=self.stripe_base,
            SITE_URL=self.web_base,
            STRIPE_METADATA_TAG=TAG,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
            # Web workers keep their connections through a run, so that the PostgreSQL
            # backends whose CPU is counted are the ones that served it (default: 60 s).
            DB_CONN_MAX_AGE="900",
            # The fakes have no rate limit: every Stripe call still takes its token from the
            # shared budget (its statements are part of what is measured), none ever waits.
            # The budget benchmark sets Stripe's real limit.
            STRIPE_RATE_LIMIT_PER_SECOND="100000",
        )

    def start(self, *, web: bool = True) -> None:
        stack.ensure_database(DB_NAME, self.env, log=log)
        stack.setup_django(self.env)
        self.reset()
        self.stack.start(
            "fast_stripe",
            [
                PY,
                "-m",
                "bench.fast_stripe",
                "--port",
                str(self.ports["stripe"]),
                "--max-seconds",
                "7200",
            ],
            self.env,
            port=self.ports["stripe"],
        )
        if web:
            self.stack.start(
                "web",
                stack.gunicorn_argv(self.ports["web"], workers=self.args.web_workers),
                self.env,
                port=self.ports["web"],
            )

    def reset(self) -> None:
        """Empty the tables a benchmark writes, PaymentIntents included."""
        from django.db import connection

        shopdata.empty_tables("djstripe_paymentintent")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE orders_order")

    def stop(self) -> None:
        self.stack.stop_all()

    def fire(self, requests_, concurrency, seconds=None):
        """Send prepared requests through ``bench.load``, bounded by ``--max-seconds``."""
        return load.fire(requests_, concurrency, seconds=seconds or self.args.max_seconds)
