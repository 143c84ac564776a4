"""The budget's tests: its settings, a wire that notes every request sent, other processes."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection

from stripe_gateway import budget
from tests.orders.test_connection_pool import pooled  # noqa: F401  (the pool fixture)
from tests.stripe_stand_in import ROOT, StripeHTTPClient

REDIS_URL = "redis://127.0.0.1:6379/14"


@dataclass(frozen=True)
class Sent:
    """One request as it left for Stripe: when (wall clock, shared by processes), what, by whom."""

    at: float
    method: str
    path: str
    work: str


class NotingHTTPClient(StripeHTTPClient):
    """The SDK's HTTP client (Stripe's semantics behind it), noting each request it sends."""

    def __init__(self, semantics, log: list[Sent], lock: threading.Lock, **kwargs):
        super().__init__(semantics, **kwargs)
        self.log, self.lock = log, lock

    def request(self, method, url, headers, post_data=None):
        with self.lock:
            self.log.append(
                Sent(time.time(), method.upper(), urlsplit(url).path, budget.current_class())
            )
        return super().request(method, url, headers, post_data)


@pytest.fixture
def sent(monkeypatch, stripe_api, stripe_semantics) -> list[Sent]:
    """Every request this process sends to Stripe, in order (any thread)."""
    log: list[Sent] = []
    lock = threading.Lock()
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: NotingHTTPClient(
            stripe_semantics, log, lock, timeout=settings.STRIPE_TIMEOUT_SECONDS
        ),
    )
    return log


def _redis_or_skip():
    import redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({exc})")


@pytest.fixture(params=["database", "redis"])
def shared_budget(request, settings):
    """A budget of its own for the test: 10 requests/s, 2 at once, half for background work.

    ``STRIPE_BUDGET_TESTS_OFF=1`` runs the same tests without any budget (they must fail).
    """
    if request.param == "redis":
        _redis_or_skip()
        settings.STRIPE_BUDGET_REDIS_URL = REDIS_URL
    off = os.environ.get("STRIPE_BUDGET_TESTS_OFF") == "1"
    settings.STRIPE_BUDGET_BACKEND = "off" if off else request.param
    settings.STRIPE_BUDGET_NAME = f"test-{uuid.uuid4().hex[:12]}"
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 10.0
    settings.STRIPE_BUDGET_BURST = 2
    settings.STRIPE_BACKGROUND_SHARE = 0.5
    settings.STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS = 3.0
    settings.STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS = 0.5
    settings.STRIPE_BUDGET_COOL_DOWN_SECONDS = 1.0
    return budget.config()


class OtherProcess:
    """``tests/stripe_gateway/budget_worker.py`` in a process of its own, on the test database."""

    def __init__(self, cfg: budget.Config, *, stand_in_base: str):
        self.cfg = cfg
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shop.settings_test",
            "DATABASE_URL": _database_url(),
            "STRIPE_API_BASE": stand_in_base,
        }

    def start(self, **options) -> subprocess.Popen:
        argv = [sys.executable, "-m", "tests.stripe_gateway.budget_worker"]
        config = {**self.cfg.__dict__, **options}
        argv += ["--config", json.dumps(config)]
        return subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    @staticmethod
    def result(process: subprocess.Popen, timeout: float = 60) -> dict:
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise AssertionError(f"budget worker failed:\n{err.decode()[-3000:]}")
        return json.loads(out.decode().strip().splitlines()[-1])


def _database_url() -> str:
    """The database this test run uses (the test database, not the configured one)."""
    s = connection.settings_dict
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    auth = s.get("USER") or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


@pytest.fixture
def other_process(shared_budget, stripe_api):
    return OtherProcess(shared_budget, stand_in_base=stripe_api.base)
