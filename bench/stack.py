"""Start and stop the pieces of the real stack for the chaos run and the benchmarks.

Everything binds 127.0.0.1. Every process started here is recorded by PID (each in its own
process group, so its own children go with it) and stopped by ``Stack.stop_all``, which the
callers run in ``finally``.
"""

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from qworker.procs import children, descendants, start_time, title

ROOT = Path(__file__).resolve().parent.parent
# The interpreter running the bench (or the tests): .venv's, or .venv313's on the newest Python.
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
VAR = ROOT / "var" / "bench"


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port; with ``BENCH_PORTS=8100-8119``, the next free one in that range
    (a machine shared by several runs gives each its own range)."""
    span = os.environ.get("BENCH_PORTS", "")
    if not span:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    low, high = (int(x) for x in span.split("-"))
    for port in range(low, high + 1):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port left in BENCH_PORTS={span}")


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def q_role(pid: int) -> str:
    """What a django-q2 cluster process does, from its title: idle, busy, monitor, pusher."""
    text = title(pid)
    if text.endswith(" idle"):
        return "idle"
    if " processing " in text:
        return "busy"
    return text.rsplit(" ", 1)[-1] if text.endswith((" monitor", " pusher")) else ""


def q_members(supervisor: int) -> list[int]:
    """The processes of the cluster a `manage.py run_worker` runs now (run_cluster → sentinel →
    these).
    """
    mains = children(supervisor)
    sentinels = children(mains[0]) if mains else []
    return children(sentinels[0]) if sentinels else []


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def established_ports(pid: int) -> set[int]:
    """Local and remote ports of the TCP connections this process holds open (IPv4, loopback)."""
    inodes = _socket_inodes(pid)
    ports: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and fields[9] in inodes:  # 01 = ESTABLISHED
            ports.add(int(fields[1].split(":")[1], 16))
            ports.add(int(fields[2].split(":")[1], 16))
    return ports


def wchan(pid: int) -> str:
    """Where in the kernel the process waits ("" when running), e.g. anon_pipe_read."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return "" if state == "R" else Path(f"/proc/{pid}/wchan").read_text().strip()
    except (OSError, IndexError):
        return "?"


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Stack:
    """The processes of one run, started and stopped together; one run per name at a time."""

    def __init__(self, name: str, *, wait_lock: float = 0.0):
        self.dir = VAR / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        # Two runs of the same kind would share (and truncate) one database: the second waits
        # up to ``wait_lock`` seconds for the first, then gives up.
        self._lock = (self.dir / "run.lock").open("w")
        deadline = time.monotonic() + wait_lock
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SystemExit(
                        f"another {name} run is going on (lock {self.dir / 'run.lock'})"
                    ) from None
                time.sleep(1)
        # A TERM (CI's timeout, Ctrl-C's cousin) must still stop everything we started.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self._pid_file = self.dir / "pids.json"
        self._reap_leftovers()

    def _reap_leftovers(self) -> None:
        """Stop what an interrupted earlier run of ours left behind (recorded by PID and start
        time).

        Left alone, its django-q2 clusters would go on working on this run's database with the
        old run's (now dead) Stripe address.
        """
        try:
            recorded = json.loads(self._pid_file.read_text())
        except (OSError, ValueError):
            return
        # By pid and start time: a command line is no proof, gunicorn and django-q2 retitle
        # their processes. A cluster whose run_worker is killed here kills itself.
        for pid, recorded_as in recorded.items():
            started = recorded_as.get("start") if isinstance(recorded_as, dict) else None
            if started is not None and start_time(int(pid)) == started:
                try:
                    os.killpg(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self._pid_file.unlink(missing_ok=True)

    def _record_pids(self) -> None:
        self._pid_file.write_text(
            json.dumps(
                {
                    str(p.pid): {"argv": p.args, "start": start_time(p.pid)}
                    for p in self.procs.values()
                }
            )
        )

    def start(
        self, name: str, argv: list[str], env: dict, *, port: int | None = None
    ) -> subprocess.Popen:
        log = (self.dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        self._record_pids()
        if port is not None:
            try:
                wait_port(port)
            except RuntimeError:
                self.stop(name)
                raise RuntimeError(
                    f"{name} did not start; see {self.dir / (name + '.log')}"
                ) from None
        return proc

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig) -> None:
        try:
            os.killpg(proc.pid, sig)  # the group we created for it: it and its own children
        except ProcessLookupError:
            pass

    def stop(self, name: str, *, sig=signal.SIGTERM, timeout: float = 10.0) -> None:
        proc = self.procs.get(name)
        if proc is not None:
            self._stop([proc], sig=sig, timeout=timeout)
            del self.procs[name]
            self._record_pids()

    def _stop(self, procs: list[subprocess.Popen], *, sig, timeout: float) -> None:
        # What they started in groups of its own (a django-q2 cluster under run_worker) is
        # killed by pid at the end if it outlived them.
        started = {pid: start_time(pid) for proc in procs for pid in descendants(proc.pid)}
        for proc in procs:
            if proc.poll() is None:
                self._signal_group(proc, sig)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in procs:
            self._signal_group(proc, signal.SIGKILL)  # and children that outlived their parent
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for pid, when in started.items():
            if when is not None and start_time(pid) == when:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop_all(self) -> None:
        # Ctrl-C or TERM now would leave processes behind: hold them until everything stopped.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            procs = list(self.procs.values())
            self._stop(procs, sig=signal.SIGTERM, timeout=10.0)
            self.procs = {}
            self._pid_file.unlink(missing_ok=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def migrations_hash() -> str:
    digest = hashlib.sha1()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_database(name: str, env: dict, *, log=print) -> None:
    """Create and migrate database ``name``; reuse it while its migrations are unchanged.

    When migrations changed, ``migrate`` applies the new ones; only if that fails is the
    database dropped and built again (dj-stripe's migrations take about a minute).
    """
    import psycopg

    marker = VAR / f"db-{name}.hash"
    wanted = migrations_hash()
    migrate = [PY, "manage.py", "migrate", "--no-input", "-v0"]
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        current = marker.read_text().strip() if marker.exists() else ""
        if exists and current == wanted:
            return
        if exists:
            log(f"==> migrations changed: migrating database {name}")
            if subprocess.run(migrate, cwd=ROOT, env=env).returncode == 0:
                marker.write_text(wanted)
                return
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"==> migrating a new database {name} (about a minute)")
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    VAR.mkdir(parents=True, exist_ok=True)
    marker.write_text(wanted)


def base_env(**overrides) -> dict:
    """The environment of every shop process in a run (settings are read from it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STRIPE_", "PAYMENTS_", "Q_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="shop.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        # Production settings over plain http on loopback, against the stand-in on purpose.
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_HSTS_SECONDS="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SILENCED_SYSTEM_CHECKS="payments.E010",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # The load comes from one address and a few emails: limits far above it, still
        # counted on every checkout (their cost is in the figures).
        RATE_LIMIT_CHECKOUT_IP="100000000/m",
        RATE_LIMIT_CHECKOUT_EMAIL="100000000/m",
    )
    env.pop("DATABASE_URL", None)
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def gunicorn_argv(port: int, *, workers: int = 2, app: str = "shop.wsgi:application") -> list[str]:
    return [
        GUNICORN,
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
        "--no-control-socket",
    ]


def setup_django(env: dict) -> None:
    """Configure Django in this process with the run's environment."""
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
