"""``manage.py prune_webhook_records``: the hourly retention sweep, by hand."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from payments.retention import prune_webhook_records


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise CommandError(f"{value!r} must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Delete dj-stripe's records of webhook requests that did not verify (older than "
        "WEBHOOK_UNVERIFIED_KEEP_HOURS, default 24) and of verified ones (older than "
        "WEBHOOK_PROCESSED_KEEP_DAYS, default 30), and expired rate-limit counts. The Stripe "
        "events themselves are kept. Runs hourly on the worker; exit 0 when done."
    )

    def add_arguments(self, parser):
        parser.add_argument("--unverified-hours", type=_positive, default=None, metavar="N")
        parser.add_argument("--processed-days", type=_positive, default=None, metavar="N")

    def handle(self, *args, unverified_hours, processed_days, **options):
        result = prune_webhook_records(
            unverified_older_than=timedelta(hours=unverified_hours) if unverified_hours else None,
            processed_older_than=timedelta(days=processed_days) if processed_days else None,
        )
        self.stdout.write(
            f"Deleted {result.unverified} unverified and {result.processed} verified webhook "
            f"records, and {result.cache_entries} expired rate-limit counts."
        )
