"""A real `manage.py run_worker` process on the test database, and what its cluster looks like.

The suite runs with django-q2's ``sync`` on; the worker gets its own environment: the shop's
production settings, ``Q_SYNC`` off, this test database, this suite's secret key (django-q2
signs task payloads with it). Every process of it is recorded by PID and start time and
killed at the end if still there.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from qworker.procs import alive, children, descendants, start_time, title

ROOT = Path(__file__).resolve().parent.parent.parent
WAITING_ON_QUEUE_PIPE = ("anon_pipe_read", "pipe_read")


def wchan(pid: int) -> str:
    """Where in the kernel the process waits: a worker reading its queue's pipe holds its lock."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return ""


def wait_for(what: str, check, *, timeout: float, interval: float = 0.2, log=None):
    """Poll ``check()`` until it returns something truthy; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            tail = f"\n--- worker log ---\n{log()}" if log else ""
            raise AssertionError(f"{what}: not within {timeout:.0f}s{tail}")
        time.sleep(interval)


def test_database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{quote(db['USER'], safe='')}{password}@{host}:{port}/{db['NAME']}"


class Cluster:
    """One incarnation of the supervised cluster: run_cluster → sentinel → its processes."""

    def __init__(self, main: int, sentinel: int, members: dict[int, str]):
        self.main = main
        self.sentinel = sentinel
        self.members = members  # pid -> title

    @property
    def workers(self) -> list[int]:
        return [
            pid for pid, t in self.members.items() if t.endswith(" idle") or " processing " in t
        ]

    def role(self, name: str) -> int:
        return next(pid for pid, t in self.members.items() if t.endswith(f" {name}"))

    @property
    def pids(self) -> list[int]:
        return [self.main, self.sentinel, *self.members]


class WorkerProcess:
    def __init__(self, log_path: Path, *, argv=("run_worker",), workers: int = 2, **env):
        self.log_path = log_path
        self.argv = [sys.executable, "manage.py", *argv]
        self.supervised = argv[0] == "run_worker"
        self.workers = workers
        self.env = self._env(workers=workers, **env)
        self.proc: subprocess.Popen | None = None
        self.seen: dict[int, str | None] = {}  # every pid of ours ever seen -> its start time

    @staticmethod
    def _env(*, workers: int, **overrides) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "STRIPE_", "PAYMENTS_", "Q_", "DATABASE_URL"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="shop.settings",
            DATABASE_URL=test_database_url(),
            DB_CONN_MAX_AGE="0",
            DJANGO_SECRET_KEY=settings.SECRET_KEY,
            Q_SYNC="0",
            Q_BROKER_URL="",  # the database, unless a test says otherwise (and whatever .env says)
            Q_WORKERS=str(workers),
            LOG_LEVEL="INFO",
            STRIPE_API_BASE="http://127.0.0.1:9",  # nothing listens: no task here calls Stripe
            DJANGO_SILENCED_SYSTEM_CHECKS="payments.E010",  # the stand-in with DEBUG off, knowingly
            PYTHONUNBUFFERED="1",
        )
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def start(self) -> "WorkerProcess":
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._remember(self.proc.pid)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def _remember(self, pid: int) -> None:
        self.seen.setdefault(pid, start_time(pid))

    def tree(self) -> list[int]:
        out = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in out:
            self._remember(pid)
        return out

    def current_cluster(self) -> Cluster | None:
        """The running cluster once all its processes are up and titled, else None."""
        if self.proc.poll() is not None:
            return None
        # run_worker -> run_cluster -> sentinel; a bare qcluster is its own main process.
        mains = children(self.proc.pid) if self.supervised else [self.proc.pid]
        if len(mains) != 1:
            return None
        sentinels = children(mains[0])
        if len(sentinels) != 1:
            return None
        members = {pid: title(pid) for pid in children(sentinels[0])}
        cluster = Cluster(mains[0], sentinels[0], members)
        self.tree()
        ready = len(cluster.workers) == self.workers and all(
            any(t.endswith(f" {role}") for t in members.values()) for role in ("monitor", "pusher")
        )
        return cluster if ready else None

    def wait_for_cluster(
        self, *, other_than: Cluster | None = None, timeout: float = 30.0
    ) -> Cluster:
        def check():
            cluster = self.current_cluster()
            if cluster and (other_than is None or cluster.main != other_than.main):
                return cluster
            return None

        what = "a new cluster" if other_than else "the cluster"
        return wait_for(
            f"{what} with {self.workers} workers, a monitor and a pusher",
            check,
            timeout=timeout,
            log=self.log,
        )

    def idle_worker_holding_the_queue_lock(self, cluster: Cluster, *, timeout: float = 10.0) -> int:
        """The idle worker blocked reading the task queue's pipe: it holds the queue's read lock."""

        def check():
            return next(
                (
                    pid
                    for pid in cluster.workers
                    if title(pid).endswith(" idle") and wchan(pid) in WAITING_ON_QUEUE_PIPE
                ),
                None,
            )

        return wait_for(
            "an idle worker waiting on the task queue", check, timeout=timeout, log=self.log
        )

    def leftovers(self) -> list[int]:
        """Processes of ours still alive (same pid and start time as when seen)."""
        return [
            pid for pid, started in self.seen.items() if alive(pid) and start_time(pid) == started
        ]

    def kill_everything(self) -> None:
        """Teardown: whatever is left of ours, SIGKILL, by recorded pid."""
        if self.proc is not None and self.proc.poll() is None:
            self.tree()
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
