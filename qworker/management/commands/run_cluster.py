"""``manage.py run_cluster``: one django-q2 cluster with the wedge-detecting sentinel."""

import math
import sys

from django.core.management.base import BaseCommand, CommandError

from qworker.healing import IncompatibleDjangoQ
from qworker.runner import run_cluster

# Exit codes of every command: 0 all well, 1 a human is needed, 2 bad usage (README).
EXIT_USAGE = 2
LONGEST_SECONDS = 86_400.0


def positive_seconds(value: str) -> float:
    """Parse a number of seconds, strictly: finite, above 0, at most a day (exit 2 if not)."""
    try:
        seconds = float(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a number of seconds", returncode=EXIT_USAGE) from None
    if not math.isfinite(seconds):
        raise CommandError(f"{value!r} is not a number of seconds", returncode=EXIT_USAGE)
    if not seconds > 0:
        raise CommandError(f"{value!r}: must be more than 0 seconds", returncode=EXIT_USAGE)
    if seconds > LONGEST_SECONDS:
        raise CommandError(
            f"{value!r}: must be at most {LONGEST_SECONDS:g} seconds", returncode=EXIT_USAGE
        )
    return seconds


def add_stall_timeout(parser) -> None:
    parser.add_argument(
        "--stall-timeout",
        default="60",
        metavar="SECONDS",
        help="Restart the cluster when its sentinel makes no guard cycle for this long "
        "(default 60).",
    )


class Command(BaseCommand):
    help = (
        "Run one django-q2 cluster that stops whole, with exit code 75, when a killed process "
        "may have wedged its queues or its sentinel hangs. Meant to run under `run_worker`, "
        "which starts a new one; use that command to run the shop's worker."
    )

    def add_arguments(self, parser):
        add_stall_timeout(parser)

    def handle(self, *args, stall_timeout, **options):
        stall_timeout = positive_seconds(stall_timeout)
        try:
            code = run_cluster(stall_timeout=stall_timeout)
        except IncompatibleDjangoQ as exc:
            raise CommandError(str(exc)) from exc
        sys.exit(code)
