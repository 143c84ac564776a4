"""Keep one django-q2 cluster running: start it, restart it when it exits, stop it for sure.

``manage.py run_worker`` runs ``Supervisor`` around ``manage.py run_cluster``. The cluster runs
in a child process in its own process group, so that the supervisor can kill all of it
(sentinel, workers, pusher, monitor) without killing itself. The supervisor:

- restarts the cluster whenever it exits without having been asked to: at once the first
  time, and after a delay doubling from ``first_delay`` to ``max_delay`` while it keeps
  exiting within ``stable_after`` seconds of its start (a cluster that cannot start, say
  with the database down, is retried at that pace for as long as it takes, never in a
  tight loop);
- on SIGTERM or SIGINT sends SIGTERM to the cluster's main process (django-q2 then stops
  its pusher, lets each worker finish its task and saves the results), waits up to
  ``stop_timeout`` seconds, then SIGKILLs the cluster's process group: a stop never hangs,
  even when a wedged cluster would wait for ever on its own workers. (SIGTERM to the whole
  group would not be a clean stop: django-q2's sentinel and workers die on it at once.)

After every exit the cluster's process group is swept with SIGKILL, so nothing it started
outlives it.
"""

import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from qworker.healing import EXIT_RESTART

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0

    def delay(self, *, uptime: float, quick_exits: int) -> float:
        """Seconds to wait before the next start; ``quick_exits`` counts this one.

        The first restart is immediate (a cluster that stopped itself should be back at once);
        one that keeps exiting early waits first_delay, then twice as long each time.
        """
        if uptime >= self.stable_after or quick_exits <= 1:
            return 0.0
        return min(self.max_delay, self.first_delay * 2 ** (quick_exits - 2))


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    if code == EXIT_RESTART:
        return f"stopped itself to be restarted (exit {code}: its queues may have been wedged)"
    return f"exited with code {code}"


class Supervisor:
    def __init__(
        self, argv: list[str], *, stop_timeout: float = 10.0, policy: RestartPolicy | None = None
    ):
        self.argv = argv
        self.stop_timeout = stop_timeout
        self.policy = policy or RestartPolicy()
        self.child: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def request_stop(self, signum, frame) -> None:
        self.stopping.set()

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT; return 0 once the cluster is stopped."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        quick_exits = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.child = subprocess.Popen(self.argv, start_new_session=True)
            logger.info("cluster started (pid %s)", self.child.pid)
            if not self._exited(stop=self.stopping):
                break  # asked to stop
            code = self._sweep()
            uptime = time.monotonic() - started
            quick_exits = 0 if uptime >= self.policy.stable_after else quick_exits + 1
            delay = self.policy.delay(uptime=uptime, quick_exits=quick_exits)
            logger.warning(
                "cluster (pid %s) %s after %.1fs; starting a new one in %.0fs",
                self.child.pid,
                describe_exit(code),
                uptime,
                delay,
            )
            if self.stopping.wait(delay):
                break
        self._stop_child()
        logger.info("worker stopped")
        return 0

    def _exited(self, *, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Wait until the child exits (True), ``stop`` is set or ``timeout`` passes (False).

        The child is not reaped: while it is a zombie its pid, which names its process group,
        cannot be given to another process, so ``_sweep`` can signal that group safely.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if (
                os.waitid(os.P_PID, self.child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                is not None
            ):
                return True
            if stop is not None and stop.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _stop_child(self) -> None:
        if self.child is None or self.child.returncode is not None:
            return
        logger.info(
            "stopping cluster (pid %s), waiting up to %.0fs", self.child.pid, self.stop_timeout
        )
        os.kill(self.child.pid, signal.SIGTERM)  # not reaped yet: the pid is still ours
        if not self._exited(timeout=self.stop_timeout):
            logger.warning(
                "cluster (pid %s) did not stop within %.0fs; killing its process group",
                self.child.pid,
                self.stop_timeout,
            )
        self._sweep()

    def _sweep(self) -> int:
        """SIGKILL the child's process group (the child and all it started), reap the child."""
        try:
            os.killpg(self.child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is gone already
        return self.child.wait()
