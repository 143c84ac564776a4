"""Run one self-healing django-q2 cluster in this process (``manage.py run_cluster``).

It exits when the cluster can no longer be trusted, and whoever runs it starts a new one
(``manage.py run_worker`` does):

- ``EXIT_RESTART`` (75): the sentinel stopped its cluster because a killed process may hold
  one of its queue locks (``qworker.healing``), or the sentinel itself stopped cycling;
- 1: the cluster could not start, or its sentinel died some other way;
- 0: it was asked to stop (SIGTERM or SIGINT) and its sentinel stopped the cluster cleanly.

Before exiting for any reason but a clean stop it kills what is left of its process tree,
and it does the same when the process that started it dies, so a cluster never outlives its
supervisor.
"""

import logging
import os
import signal

from qworker import healing
from qworker.procs import descendants

logger = logging.getLogger(__name__)


def kill_tree(pid: int) -> None:
    """SIGKILL every descendant of ``pid`` (not ``pid`` itself)."""
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_cluster(*, stall_timeout: float, poll: float = 0.5) -> int:
    """Start a cluster and watch it until it stops; return this process's exit code."""
    healing.install()
    from django_q.cluster import Cluster

    supervisor = os.getppid()
    cluster = Cluster()  # installs handlers that would block in stop(): ours replace them
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True
        if cluster.stop_event is not None:
            cluster.stop_event.set()  # the sentinel stops its workers, pusher and monitor

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        cluster.start()
    except RuntimeError as exc:  # django-q2 logged the sentinel's own error above
        logger.error("cluster did not start: %s", exc)
        kill_tree(os.getpid())
        return 1
    if stopping:
        cluster.stop_event.set()  # the signal came before the event existed
    while True:
        cluster.sentinel.join(poll)
        code = cluster.sentinel.exitcode
        if code is not None:
            if stopping and code == 0:
                logger.info("cluster stopped")
                return 0
            if code == healing.EXIT_RESTART:
                logger.warning("cluster stopped itself to be restarted (exit %s)", code)
            else:
                logger.error("cluster sentinel exited with code %s", code)
            kill_tree(os.getpid())
            return healing.EXIT_RESTART if code == healing.EXIT_RESTART else 1
        if os.getppid() != supervisor:
            logger.error("the process that started this cluster is gone; killing the cluster")
            kill_tree(os.getpid())
            return 1
        if not stopping and healing.seconds_since_heartbeat() > stall_timeout:
            logger.critical(
                "cluster sentinel %s made no guard cycle for %.0fs; "
                "killing the cluster to restart it",
                cluster.sentinel.pid,
                stall_timeout,
            )
            kill_tree(os.getpid())
            cluster.sentinel.join(5)
            return healing.EXIT_RESTART
