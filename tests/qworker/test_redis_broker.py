"""Q_BROKER_URL=redis://...: django-q2's Redis broker carries the tasks (local Redis, db 15)."""

import logging
import secrets
from datetime import timedelta

import pytest
import redis
from django.utils import timezone
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from django_q.tasks import async_task, fetch

from orders.outbox.store import queue_dispatch as schedule_outbox_dispatch
from tests.qworker.worker_process import WorkerProcess, wait_for
from tests.stripe_stand_in import free_port

REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own: nothing else is touched
LOCK = "convergent-shop-tests:redis-broker-lock"


@pytest.fixture
def redis_db():
    """The test's Redis database, held by this test run alone (other checkouts wait)."""
    client = redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}): the Redis broker cannot be shown here")
    token = secrets.token_hex(8)
    wait_for(
        "the Redis test lock (another test run holds it)",
        lambda: client.set(LOCK, token, nx=True, px=120_000),
        timeout=120,
        interval=0.5,
    )
    try:
        yield client
    finally:
        if client.get(LOCK) == token.encode():
            client.delete(LOCK)


@pytest.fixture
def redis_broker(monkeypatch, redis_db):
    """django-q2's Redis broker in this process, on the same queue the worker reads."""
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    broker = Redis(list_key=Conf.CLUSTER_NAME)
    broker.delete_queue()
    yield broker
    broker.delete_queue()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervised_worker_with_the_redis_broker_runs_a_task_queued_in_redis(
    tmp_path, redis_broker
):
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    task_id = async_task("os.getpid", sync=False, broker=redis_broker)
    assert redis_broker.queue_size() == 1 and not OrmQ.objects.exists()  # waiting in Redis

    process = WorkerProcess(tmp_path / "worker.log", Q_BROKER_URL=REDIS_URL).start()
    try:
        cluster = process.wait_for_cluster()
        task = wait_for(
            f"task {task_id} run and its result saved",
            lambda: fetch(task_id),
            timeout=30,
            log=process.log,
        )
    finally:
        process.kill_everything()

    assert task.success and task.result in cluster.workers
    assert redis_broker.queue_size() == 0


def test_checkout_survives_redis_being_down_when_queueing_the_outbox_dispatch(monkeypatch, caplog):
    """The on-commit enqueue must not fail the request: the minute sweep sends the message."""
    monkeypatch.setattr(Conf, "REDIS", f"redis://127.0.0.1:{free_port()}/15")  # nothing listens
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr("django_q.tasks.get_broker", lambda list_key=None: Redis(list_key="shop"))

    with caplog.at_level(logging.WARNING, logger="orders.tasks"):
        schedule_outbox_dispatch(12345)

    assert [r.message for r in caplog.records] == ["could not queue outbox dispatch"]
    assert caplog.records[0].outbox_id == 12345
