"""The chaos run's stack: localstripe behind the fault proxy, two web servers, two django-q2
clusters.

Also the state each run starts from (empty order and queue tables, one product in stock, an
empty mail folder) and where the clusters' workers are, for the faults.
"""

import os
import subprocess
import time

from bench import shopdata, stack
from bench.report import log
from bench.stack import PY, Stack

# BENCH_CHAOS_DB: another database for a second checkout of the repo running its own chaos runs.
DB_NAME = os.environ.get("BENCH_CHAOS_DB", "shop_chaos")
TAG = "convergent-shop-chaos"


class ChaosStack(Stack):
    """The processes of one chaos run on loopback, started by ``start_all``."""

    def __init__(
        self, *, seed: int, max_seconds: float, wait_lock: float, stripe_semantics: str = "on"
    ):
        super().__init__("chaos", wait_lock=wait_lock)
        self.seed = seed
        self.stripe_semantics = stripe_semantics
        self.max_seconds = max_seconds
        self.ports = {name: stack.free_port() for name in ("stripe", "proxy", "web1", "web2")}
        self.stripe_base = f"http://127.0.0.1:{self.ports['stripe']}"
        self.proxy_base = f"http://127.0.0.1:{self.ports['proxy']}"
        self.web_bases = [f"http://127.0.0.1:{self.ports[w]}" for w in ("web1", "web2")]
        self.mail_dir = self.dir / "mail"
        self.env = stack.base_env(
            DATABASE_URL=f"{stack.PG_ADMIN_URL}/{DB_NAME}",
            STRIPE_API_BASE=self.proxy_base,
            SITE_URL=self.web_bases[0],
            STRIPE_TIMEOUT_SECONDS=3,
            STRIPE_METADATA_TAG=TAG,
            STRIPE_WEBHOOK_SECRET="whsec_chaos_run",
            PAYMENTS_GRACE_SECONDS=3,
            PAYMENTS_RETRY_BASE_SECONDS=1,
            PAYMENTS_RETRY_MAX_MINUTES=1,
            PAYMENTS_LEASE_SECONDS=10,
            PAYMENTS_OUTBOX_LEASE_SECONDS=20,
            PAYMENTS_GIVE_UP_MINUTES=30,
            Q_WORKERS=2,
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=self.mail_dir,
        )
        self.q_log_offsets: dict[str, int] = {}
        self.pg_restarted = False  # set by the fault that restarts it

    def reset_state(self) -> tuple:
        """Start each run from empty order, queue and session tables; one product with stock."""
        from django.utils import timezone
        from django_q.models import Schedule

        shopdata.empty_tables()
        Schedule.objects.update(next_run=timezone.now())
        product = shopdata.stocked_product("chaos-mug", "Chaos mug", 1_000_000)
        for path in self.mail_dir.glob("*"):
            path.unlink()
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        return product, {product.pk: product.stock}

    def start_all(self) -> None:
        log(f"==> database {DB_NAME}")
        stack.ensure_database(DB_NAME, self.env, log=log)
        stack.setup_django(self.env)
        self.product, self.stock_expected = self.reset_state()
        behind = (
            "Stripe's semantics (keys saved and replayed, 25 requests/s, its own 500s)"
            if self.stripe_semantics == "on"
            else "no Stripe semantics (localstripe alone)"
        )
        log(
            f"==> localstripe (memory) behind the fault proxy, with {behind}; "
            "2 gunicorn web servers; 2 django-q2 clusters (run_worker)"
        )
        self.start(
            "localstripe",
            [
                PY,
                "-m",
                "devtools.localstripe_server",
                "--port",
                str(self.ports["stripe"]),
                "--memory",
            ],
            self.env,
            port=self.ports["stripe"],
        )
        self.start(
            "fault_proxy",
            [
                PY,
                "-m",
                "bench.fault_proxy",
                "--port",
                str(self.ports["proxy"]),
                "--upstream",
                self.stripe_base,
                "--delay-seconds",
                "4",
                "--seed",
                str(self.seed),
                "--max-seconds",
                str(self.max_seconds),
                "--stripe-semantics",
                self.stripe_semantics,
                "--rate-limit",
                "25",
            ],
            self.env,
            port=self.ports["proxy"],
        )
        subprocess.run(
            [PY, "manage.py", "connect_local_stripe", "--site-url", self.web_bases[0]],
            cwd=stack.ROOT,
            env={**self.env, "STRIPE_API_BASE": self.stripe_base},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for name in ("web1", "web2"):
            self.start(
                name,
                stack.gunicorn_argv(self.ports[name], workers=2),
                self.env,
                port=self.ports[name],
            )
        for name in ("q1", "q2"):
            self.start_cluster(name)

    def start_cluster(self, name: str) -> None:
        """A worker host: `run_worker`, which runs (and when wedged, replaces) a cluster."""
        log_path = self.dir / f"{name}.log"
        self.q_log_offsets.setdefault(name, log_path.stat().st_size if log_path.exists() else 0)
        self.start(name, [PY, "manage.py", "run_worker"], self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(self.q_workers(name)) >= int(self.env["Q_WORKERS"]):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start its workers; see {log_path}")

    def q_workers(self, name: str) -> list[int]:
        """The workers of the cluster that host ``name`` runs now (by their process titles)."""
        return [
            pid
            for pid in stack.q_members(self.procs[name].pid)
            if stack.q_role(pid) in ("idle", "busy")
        ]

    def q_self_restarts(self) -> int:
        """How often a cluster stopped itself to be replaced during this run (from the logs)."""
        count = 0
        for name, offset in self.q_log_offsets.items():
            with (self.dir / f"{name}.log").open("rb") as log_file:
                log_file.seek(offset)
                count += log_file.read().count(b"cluster queues may be wedged")
        return count

    def stop_all(self) -> None:
        super().stop_all()
        if self.pg_restarted:
            for _ in range(60):  # leave PostgreSQL up for everyone else
                if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
                    break
                time.sleep(1)
