"""The race harness (tests/races.py) itself: actors overlap, results keep order, errors surface."""

import threading

import pytest

from tests.races import run_together


def test_actors_run_at_the_same_time_and_their_results_keep_their_order():
    second_started = threading.Event()

    def first():
        # Run one after the other, this would wait for the second actor in vain.
        assert second_started.wait(timeout=5), "the second actor never ran alongside"
        return "first"

    def second():
        second_started.set()
        return "second"

    assert run_together(first, second) == ["first", "second"]


def test_the_first_actor_to_fail_fails_the_caller_after_all_have_finished():
    finished = []

    def fails():
        raise ValueError("boom")

    def slow():
        threading.Event().wait(0.2)
        finished.append("slow")

    with pytest.raises(AssertionError, match=r"racer fails failed: ValueError\('boom'\)") as info:
        run_together(fails, slow, names=["racer fails", "racer slow"])
    assert isinstance(info.value.__cause__, ValueError)
    assert finished == ["slow"]


def test_an_actor_still_running_past_the_finish_timeout_is_reported_as_a_hang():
    release = threading.Event()

    def stuck():
        release.wait(timeout=10)

    try:
        with pytest.raises(AssertionError, match=r"deadlock\?\): \['actor 0 \(stuck\)'\]"):
            run_together(stuck, lambda: None, finish_timeout=0.1)
    finally:
        release.set()
