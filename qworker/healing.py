"""Make a django-q2 cluster stop whole when a killed process may have wedged its queues.

Everything here leans on django-q2 1.11.1's internals (``django_q/cluster.py``,
``worker.py``); ``check_django_q`` refuses any other version, and anything missing, at start-up.

Why: a cluster is one *sentinel* process guarding its workers, a *pusher* (broker → task
queue) and a *monitor* (result queue → database). The two queues are
``multiprocessing.Queue``s, whose reads and writes are guarded by locks shared between those
processes (POSIX semaphores). A process killed by a signal while it holds one never releases
it:

- an idle worker blocks in ``task_queue.get()`` *holding the task queue's reader lock*;
  killed there, every other worker waits on that lock for ever, the sentinel reincarnates
  the dead one into the same wait, and the pusher goes on taking tasks from the broker that
  nobody runs (the ORM broker holds each for ``Q_CLUSTER["retry"]``);
- the monitor idles in ``result_queue.get()`` holding the result queue's reader lock: killed
  there, no result is saved or acknowledged again;
- the pusher's feeder thread holds the task queue's writer lock while it writes a task into
  the pipe (for long when the pipe is full): killed then, no task reaches a worker again.

django-q2 reincarnates just the dead process, which cannot help. ``HealingSentinel`` tells
these deaths apart from the harmless ones and then kills every process of the cluster and
exits with ``EXIT_RESTART``, so that whoever runs it (``manage.py run_worker``) starts a
fresh cluster with fresh queues. What it reads at a worker's death is the worker's shared
``timer``: -1 idle (or between two tasks), > 0 running a task (the queue lock is released
then), 0 timed out (django-q2 terminates it itself), -2 recycled (it left by itself).
A process that exited by itself (exit code >= 0) released its locks on the way out.

Tasks cut off by the restart are safe to lose or repeat: every shop task is idempotent and
only speeds up a sweep, and the ORM broker redelivers an unacknowledged task after ``retry``.

A second wedge has no death to see: a worker killed while it holds its own ``timer``'s lock
(it takes it for the few statements that hand a result over) blocks the sentinel's guard
loop for ever on ``with p.timer.get_lock()``. For that, and any other hang of the sentinel,
the sentinel beats a heart in shared memory on every guard cycle (``status()`` is called by
``Stat(self)`` each cycle); ``manage.py run_cluster`` restarts the cluster when it stops.
"""

import logging
import multiprocessing
import os
import signal
import time

import django_q
from django_q import cluster as q_cluster
from django_q import status as q_status

logger = logging.getLogger(__name__)

SUPPORTED_VERSION = (1, 11, 1)
# "Temporary failure, try again" (sysexits.h): the cluster stopped itself to be started afresh.
EXIT_RESTART = 75
IDLE = -1  # django_q.worker's timer value of a worker waiting for (or between) tasks

# Monotonic time of the sentinel's last guard cycle, in memory shared with the process that
# called install() (the sentinel is forked from it, so it writes the same page).
_heartbeat = None


class IncompatibleDjangoQ(RuntimeError):
    """The installed django-q2 is not the one this module was written against."""


def _code_names(function) -> set[str]:
    return set(function.__code__.co_names)


def check_django_q() -> None:
    """Fail loudly unless django-q2 works the way this module assumes."""
    problems = []
    if tuple(django_q.VERSION) != SUPPORTED_VERSION:
        problems.append(f"django-q2 is {django_q.VERSION}, not {SUPPORTED_VERSION}")
    sentinel = getattr(q_cluster, "Sentinel", None)
    for name in ("reincarnate", "guard", "status", "spawn_process"):
        if not callable(getattr(sentinel, name, None)):
            problems.append(f"django_q.cluster.Sentinel.{name} is missing")
    if not problems:
        # The sentinel is built from the module global install() replaces, in a forked
        # process that inherits it and the heartbeat's shared memory.
        if "Sentinel" not in _code_names(q_cluster.Cluster.start):
            problems.append(
                "Cluster.start no longer builds its sentinel from django_q.cluster.Sentinel"
            )
        if q_cluster.get_mp_context().get_start_method() != "fork":
            problems.append("django-q2 does not fork its processes here")
        if not {"reincarnate", "Stat"} <= _code_names(sentinel.guard):
            problems.append("Sentinel.guard no longer calls reincarnate() and Stat()")
        if "status" not in _code_names(q_status.Stat.__init__):
            problems.append("Stat() no longer calls the sentinel's status()")
        if "timer" not in _code_names(sentinel.spawn_process):
            problems.append("Sentinel.spawn_process no longer gives workers a timer")
    if problems:
        raise IncompatibleDjangoQ(
            "qworker/healing.py was written against django-q2 1.11.1's internals: "
            + "; ".join(problems)
            + ". Re-read django_q/cluster.py and worker.py and update it."
        )


def install() -> None:
    """Make every cluster started from this process a HealingSentinel's, with a heartbeat."""
    global _heartbeat
    check_django_q()
    _heartbeat = multiprocessing.RawValue("d", time.monotonic())
    q_cluster.Sentinel = HealingSentinel


def seconds_since_heartbeat() -> float:
    return time.monotonic() - _heartbeat.value


def wedge_risk(sentinel, process) -> str | None:
    """Why ``process``'s death may have left one of the cluster's queue locks held, or None."""
    exitcode = process.exitcode
    if exitcode is None or exitcode >= 0:
        return None  # alive (django-q2's timeout path) or left by itself, releasing its locks
    how = f"killed by {signal.Signals(-exitcode).name}"
    if process is sentinel.monitor:
        return f"monitor {process.pid} {how} (it waits on the result queue holding its reader lock)"
    if process is sentinel.pusher:
        return f"pusher {process.pid} {how} (it may have held the task queue's writer lock)"
    if int(process.timer.value) == IDLE:
        return (
            f"worker {process.pid} {how} while idle "
            "(it waits on the task queue holding its reader lock)"
        )
    return None  # mid-task (timer > 0): its queue locks were released; django-q2 replaces it


class HealingSentinel(q_cluster.Sentinel):
    """django-q2's sentinel, but one that stops its whole cluster when its queues may be wedged."""

    def status(self):
        _heartbeat.value = time.monotonic()
        return super().status()

    def reincarnate(self, process):
        reason = wedge_risk(self, process)
        if reason is None:
            return super().reincarnate(process)
        logger.critical(
            "cluster queues may be wedged: %s; stopping the whole cluster for a fresh one", reason
        )
        self.kill_cluster()
        os._exit(EXIT_RESTART)  # no atexit: it would join the workers we just killed

    def kill_cluster(self) -> None:
        processes = [p for p in (*self.pool, self.monitor, self.pusher) if p is not None]
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=5)
