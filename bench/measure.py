"""Measurements: percentiles, CPU time of the processes serving a run, round trips per request."""

import os
import resource
import statistics

from bench import stack

TICKS = os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    """CPU time of this process, all threads (the load generator, or the ceiling's clients)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def cpu_counters(roles: dict[str, int], db_name: str) -> dict[str, dict[int, int]]:
    """CPU ticks so far of each process serving the run, by role (Linux /proc).

    ``roles`` names a process whose descendants count with it. PostgreSQL's share is its
    backends connected to database ``db_name`` (the web workers keep theirs open:
    ``CONN_MAX_AGE``), not the whole shared server.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db_name],
        )
        backends = [row[0] for row in cursor.fetchall()]
    counters = {
        role: {p: stack.cpu_ticks(p) for p in [pid, *stack.descendants(pid)]}
        for role, pid in roles.items()
    }
    counters["postgres"] = {p: stack.cpu_ticks(p) for p in backends}
    return counters


def cpu_spent(
    before: dict[str, dict[int, int]], after: dict[str, dict[int, int]]
) -> dict[str, float]:
    """Seconds of CPU per role between two ``cpu_counters`` (a process new since counts whole)."""
    return {
        role: sum(t - before[role].get(p, 0) for p, t in after[role].items()) / TICKS
        for role in after
    }


def count_round_trips(path_fn, *, method: str = "get", data_fn=None, repeat: int = 3) -> dict:
    """Statements and transactions of one request, counted in-process with Django's test client."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client

    statements: list[int] = []
    commits: list[int] = []
    calls: list[int] = []
    for i in range(repeat):
        client = Client()
        path, data = path_fn(client, i), (data_fn(client, i) if data_fn else None)
        count = {"q": 0, "c": 0}

        def execute(run, sql, params, many, context, count=count):
            count["q"] += 1
            return run(sql, params, many, context)

        real_commit = connection.commit

        def commit(count=count, real_commit=real_commit):
            count["c"] += 1
            real_commit()

        connection.commit = commit
        # Python function calls: a deterministic measure of the work, where timings on a
        # shared machine move by ±15% from run to run.
        profile = cProfile.Profile()
        try:
            with connection.execute_wrapper(execute):
                profile.enable()
                getattr(client, method)(path, data) if data is not None else getattr(
                    client, method
                )(path)
                profile.disable()
        finally:
            del connection.commit
        statements.append(count["q"])
        commits.append(count["c"])
        calls.append(pstats.Stats(profile).total_calls)
    q, c = statistics.median(statements), statistics.median(commits)
    # psycopg sends BEGIN and COMMIT as round trips of their own; with CONN_HEALTH_CHECKS
    # Django also sends a "SELECT 1" of its own when a request first uses its connection.
    from django.conf import settings

    checks = 1 if settings.DATABASES["default"].get("CONN_HEALTH_CHECKS") else 0
    return {
        "statements": q,
        "transactions": c,
        "health_checks": checks,
        "round_trips": q + 2 * c + checks,
        "python_calls": statistics.median(calls),
    }
