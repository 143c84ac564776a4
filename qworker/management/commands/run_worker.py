"""``manage.py run_worker``: supervise django-q2 clusters, replacing a wedged one."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from qworker.healing import IncompatibleDjangoQ, check_django_q
from qworker.management.commands.run_cluster import add_stall_timeout, positive_seconds
from qworker.supervisor import RestartPolicy, Supervisor


class Command(BaseCommand):
    help = (
        "Run the shop's django-q2 worker: one cluster (tasks and schedules), restarted when it "
        "exits or wedges, stopped for sure on SIGTERM/SIGINT (SIGKILL after --stop-timeout)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stop-timeout",
            default="10",
            metavar="SECONDS",
            help="On SIGTERM/SIGINT, give the cluster this long to stop cleanly, then SIGKILL it "
            "(default 10).",
        )
        parser.add_argument(
            "--max-backoff",
            default="30",
            metavar="SECONDS",
            help="Longest wait between two restarts of a cluster that keeps exiting early "
            "(default 30).",
        )
        add_stall_timeout(parser)

    def handle(self, *args, stop_timeout, max_backoff, stall_timeout, **options):
        try:
            check_django_q()  # here too: one clear error rather than a cluster failing in a loop
        except IncompatibleDjangoQ as exc:
            raise CommandError(str(exc)) from exc
        child = [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "run_cluster",
            "--stall-timeout",
            str(positive_seconds(stall_timeout)),
        ]
        supervisor = Supervisor(
            child,
            stop_timeout=positive_seconds(stop_timeout),
            policy=RestartPolicy(max_delay=positive_seconds(max_backoff)),
        )
        sys.exit(supervisor.run())
