"""The pieces of the self-healing worker that need no running cluster."""

from types import SimpleNamespace

import django_q
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from qworker import brokers
from qworker.healing import IncompatibleDjangoQ, check_django_q, wedge_risk
from qworker.supervisor import RestartPolicy, describe_exit

KILLED = -9  # multiprocessing's exitcode of a process killed by SIGKILL


def process(*, exitcode, timer=None, pid=4242):
    return SimpleNamespace(exitcode=exitcode, pid=pid, timer=SimpleNamespace(value=timer))


@pytest.fixture
def sentinel():
    return SimpleNamespace(
        monitor=process(exitcode=None, pid=1), pusher=process(exitcode=None, pid=2)
    )


def test_the_installed_django_q2_has_the_internals_the_healing_sentinel_needs():
    check_django_q()


def test_another_django_q2_version_is_refused_at_start_up(monkeypatch):
    monkeypatch.setattr(django_q, "VERSION", (1, 12, 0))
    with pytest.raises(IncompatibleDjangoQ, match=r"django-q2 is \(1, 12, 0\), not \(1, 11, 1\)"):
        check_django_q()


def test_a_missing_sentinel_hook_is_refused_at_start_up(monkeypatch):
    monkeypatch.delattr(django_q.cluster.Sentinel, "reincarnate")
    with pytest.raises(IncompatibleDjangoQ, match="Sentinel.reincarnate is missing"):
        check_django_q()


def test_worker_killed_while_idle_may_hold_the_task_queue_lock(sentinel):
    reason = wedge_risk(sentinel, process(exitcode=KILLED, timer=-1))
    assert (
        reason == "worker 4242 killed by SIGKILL while idle "
        "(it waits on the task queue holding its reader lock)"
    )


@pytest.mark.parametrize(
    ("exitcode", "timer", "why_harmless"),
    [
        (KILLED, 117.5, "killed mid-task: the queue lock was released when it took the task"),
        (0, -2, "recycled: it left by itself"),
        (None, 0, "timed out, still alive: django-q2 terminates it"),
        (0, -1, "idle but exited by itself, releasing its locks"),
        (1, -1, "died of an exception: the lock's context manager released it"),
    ],
)
def test_other_worker_deaths_are_left_to_django_q2(sentinel, exitcode, timer, why_harmless):
    assert wedge_risk(sentinel, process(exitcode=exitcode, timer=timer)) is None, why_harmless


def test_monitor_or_pusher_killed_by_a_signal_may_hold_a_queue_lock(sentinel):
    sentinel.monitor.exitcode = KILLED
    assert "monitor 1 killed by SIGKILL" in wedge_risk(sentinel, sentinel.monitor)
    sentinel.pusher.exitcode = -15
    assert "pusher 2 killed by SIGTERM" in wedge_risk(sentinel, sentinel.pusher)


def test_a_pusher_that_left_after_a_broker_error_is_just_reincarnated(sentinel):
    sentinel.pusher.exitcode = 0
    assert wedge_risk(sentinel, sentinel.pusher) is None


def test_restarts_are_immediate_once_then_back_off_to_the_cap_and_reset_after_a_stable_run():
    policy = RestartPolicy(first_delay=1, max_delay=30, stable_after=60)
    quick = [policy.delay(uptime=5, quick_exits=n) for n in range(1, 9)]
    assert quick == [0, 1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(uptime=61, quick_exits=0) == 0


def test_exit_reasons_name_the_signal_and_the_self_restart():
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(75).startswith("stopped itself to be restarted")
    assert describe_exit(1) == "exited with code 1"


@pytest.mark.parametrize("command", ["run_worker", "run_cluster"])
@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "must be more than 0 seconds"), ("soon", "is not a number of seconds")],
)
def test_bad_durations_are_refused_before_anything_starts(command, value, message):
    with pytest.raises(CommandError, match=message):
        call_command(command, "--stall-timeout", value)


def test_bad_stop_timeout_is_refused():
    with pytest.raises(CommandError, match="'-1': must be more than 0 seconds"):
        call_command("run_worker", "--stop-timeout", "-1")


def test_no_broker_url_queues_tasks_in_the_database():
    assert brokers.broker_settings("") == {"orm": "default"}


def test_a_redis_url_selects_django_q2s_redis_broker():
    assert brokers.broker_settings("redis://127.0.0.1:6379/0") == {
        "redis": "redis://127.0.0.1:6379/0"
    }


def test_another_broker_url_is_a_configuration_error():
    with pytest.raises(
        ImproperlyConfigured, match="Q_BROKER_URL must be empty .* not one starting 'amqp://'"
    ):
        brokers.broker_settings("amqp://guest@127.0.0.1//")


def test_a_redis_url_without_the_redis_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(brokers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImproperlyConfigured, match="scripts/bootstrap --redis"):
        brokers.broker_settings("redis://127.0.0.1:6379/0")
