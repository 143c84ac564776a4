"""Run several actors at the same moment, each in its own thread on its own database connection."""

import threading
from collections.abc import Callable, Sequence

from django.db import connection  # a proxy: in each thread, that thread's own connection


def run_together(
    *actors: Callable[[], object],
    names: Sequence[str] | None = None,
    start_timeout: float | None = None,
    finish_timeout: float | None = None,
) -> list:
    """Start each actor in its own thread, release them all at once, and return their results.

    The threads wait at a barrier so that the actors start together, not one after the other
    as the threads happen to start. Each thread closes its own database connection when its
    actor is done (Django opens one per thread). Results come back in the order of ``actors``.

    Once every thread has finished, the first actor to have raised (anything, ``BaseException``
    included) fails the caller with an ``AssertionError`` naming it, chained to its exception.
    ``start_timeout`` bounds the wait at the barrier (an actor that never arrives breaks it,
    and every actor fails with ``BrokenBarrierError``); ``finish_timeout`` bounds the join of
    each thread, and an actor still running after it fails the caller as a hang. ``None``
    waits for ever. ``names`` name the actors in those failures.
    """
    if names is None:
        names = [_name(i, actor) for i, actor in enumerate(actors)]
    assert len(names) == len(actors), f"{len(actors)} actors, {len(names)} names"
    barrier = threading.Barrier(len(actors))
    results: list = [None] * len(actors)
    errors: list[tuple[str, BaseException]] = []  # in the order the actors failed

    def run(index: int, actor: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=start_timeout)
            results[index] = actor()
        except BaseException as exc:  # noqa: BLE001 -- re-raised below, in the caller's thread
            errors.append((names[index], exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, actor)) for i, actor in enumerate(actors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=finish_timeout)
    hanging = [name for name, thread in zip(names, threads, strict=True) if thread.is_alive()]
    assert not hanging, f"still running after {finish_timeout} s (deadlock?): {hanging}"
    if errors:
        name, exc = errors[0]
        raise AssertionError(f"{name} failed: {exc!r}") from exc
    return results


def _name(index: int, actor: Callable) -> str:
    name = getattr(actor, "__name__", "")
    return f"actor {index}" if name in ("", "<lambda>") else f"actor {index} ({name})"
