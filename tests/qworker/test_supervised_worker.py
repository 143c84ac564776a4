"""`manage.py run_worker` as a real process on the test database: it heals and it stops.

A django-q2 worker SIGKILLed while idle dies holding its task queue's read lock, which wedges
its whole cluster (qworker/healing.py); the supervised cluster must replace itself.
"""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, fetch

from qworker.procs import alive
from tests.qworker.worker_process import WorkerProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, transactional_db):
    """Start `manage.py <argv>` as a worker process; everything of it is killed at the end."""
    # Keep the cluster's scheduler quiet: these tests watch only the tasks they queue.
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    started: list[WorkerProcess] = []

    def start(*argv: str, **env) -> WorkerProcess:
        process = WorkerProcess(
            tmp_path / f"worker{len(started)}.log", argv=argv or ("run_worker",), **env
        )
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.kill_everything()


def run_task_through_the_cluster(worker: WorkerProcess, *, timeout: float = 30.0) -> int:
    """Queue a task on the broker (not inline) and wait for its result; return the worker's pid."""
    task_id = async_task("os.getpid", sync=False)
    task = wait_for(
        f"task {task_id} run and its result saved",
        lambda: fetch(task_id),
        timeout=timeout,
        log=worker.log,
    )
    assert task.success, task.result
    return task.result


def assert_replaced_and_working(process: WorkerProcess, cluster, *, because: str) -> None:
    """A new cluster replaced ``cluster`` (for the logged reason), none of it is left, it works."""
    fresh = process.wait_for_cluster(other_than=cluster)
    assert because in process.log()
    assert not [pid for pid in cluster.pids if alive(pid)], "the old cluster left processes behind"
    assert run_task_through_the_cluster(process) in fresh.workers


def test_idle_worker_killed_holding_the_queue_lock_cluster_replaces_itself_and_runs_the_next_task(
    worker,
):
    process = worker()
    cluster = process.wait_for_cluster()
    assert run_task_through_the_cluster(process) in cluster.workers

    victim = process.idle_worker_holding_the_queue_lock(cluster)
    os.kill(victim, signal.SIGKILL)

    assert_replaced_and_working(
        process, cluster, because=f"worker {victim} killed by SIGKILL while idle"
    )


def test_plain_qcluster_stays_wedged_after_the_same_kill_which_is_why_run_worker_exists(worker):
    process = worker("qcluster")
    cluster = process.wait_for_cluster()
    victim = process.idle_worker_holding_the_queue_lock(cluster)
    os.kill(victim, signal.SIGKILL)
    wait_for(
        "django-q2 reincarnating the killed worker",
        lambda: "after death" in process.log(),
        timeout=10,
        log=process.log,
    )

    task_id = async_task("os.getpid", sync=False)
    time.sleep(10)  # a bounded look for something that must not happen

    assert fetch(task_id) is None, (
        "django-q2 now survives this kill: qworker/healing.py may be simplified"
    )


def test_frozen_sentinel_is_noticed_and_the_cluster_replaced(worker):
    process = worker("run_worker", "--stall-timeout", "3")
    cluster = process.wait_for_cluster()
    time.sleep(5)  # longer than the stall timeout: a healthy sentinel's heartbeat keeps it
    assert process.current_cluster().main == cluster.main, process.log()

    os.kill(cluster.sentinel, signal.SIGSTOP)  # as if blocked for ever on a dead worker's lock

    assert_replaced_and_working(
        process, cluster, because=f"cluster sentinel {cluster.sentinel} made no guard cycle"
    )


def test_sigterm_stops_the_worker_cleanly_and_leaves_no_process(worker):
    process = worker()
    process.wait_for_cluster()

    process.proc.send_signal(signal.SIGTERM)

    assert process.proc.wait(timeout=30) == 0, process.log()
    assert "cluster stopped" in process.log()  # the clean path, not the SIGKILL
    assert process.leftovers() == []


def test_sigterm_stops_a_cluster_that_cannot_stop_by_killing_it_after_the_stop_timeout(worker):
    process = worker("run_worker", "--stop-timeout", "2")
    cluster = process.wait_for_cluster()
    os.kill(cluster.sentinel, signal.SIGSTOP)  # its clean stop can never finish

    process.proc.send_signal(signal.SIGTERM)

    assert process.proc.wait(timeout=30) == 0, process.log()
    assert "did not stop within 2s; killing its process group" in process.log()
    assert process.leftovers() == []


def test_cluster_whose_supervisor_is_killed_kills_itself(worker):
    process = worker()
    cluster = process.wait_for_cluster()

    process.proc.kill()  # SIGKILL: the supervisor cannot stop anything

    wait_for(
        "the orphaned cluster gone",
        lambda: not [pid for pid in cluster.pids if alive(pid)],
        timeout=15,
        log=process.log,
    )
    assert "the process that started this cluster is gone" in process.log()
