"""``manage.py payments_report``: the payments health figures, for people and for cron."""

import json

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from payments.cli import EXIT_CODES_HELP, attention, parse_duration, usage_error
from payments.health import format_duration, payments_health


class Command(BaseCommand):
    help = (
        "Print the payments health figures: orders per state, the oldest pending order, "
        "orders past the grace period, orders stuck past the deadline, failed refunds, the "
        "last reconciler run and the outbox backlog. Changes nothing. Exits 1 when an order "
        "is stuck past the deadline, a refund failed (money a customer is owed) or a Stripe "
        "event matched no order (until support attaches or dismisses it), so that "
        "cron or a monitor can alert on it, and when the database cannot be read. "
        + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
        parser.add_argument(
            "--stuck-after",
            default=None,
            metavar="DURATION",
            help=(
                "Count an order as stuck when it has been pending longer than this "
                "(e.g. 90m, 2h). Default: the give-up delay plus the longest retry backoff."
            ),
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=20,
            help="List at most this many orders needing attention (default 20; 0 lists none).",
        )

    def handle(self, *args, json: bool, stuck_after, limit, **options):
        if limit < 0:
            raise usage_error("--limit must be 0 or a positive number")
        after = (
            parse_duration(stuck_after, option="--stuck-after") if stuck_after is not None else None
        )
        if after is not None and not after:
            raise usage_error("--stuck-after must be longer than 0s")
        try:
            health = payments_health(stuck_after=after, attention_limit=limit)
        except DatabaseError as exc:
            raise attention(f"Could not read the orders from the database: {exc}") from exc
        if json:
            self.stdout.write(self._as_json(health))
        else:
            self._as_text(health)
        if health.alerting:
            raise attention(
                f"{health.stuck} orders stuck past the deadline, "
                f"{health.refunds_failed} failed refunds, "
                f"{health.unmatched_unresolved} unmatched Stripe events"
            )

    @staticmethod
    def _as_json(health) -> str:
        return json.dumps(health.as_dict(), indent=2, sort_keys=True)

    def _as_text(self, health) -> None:
        write, since = self.stdout.write, format_duration
        write(f"Payments health at {health.generated_at:%Y-%m-%d %H:%M:%S %Z}")
        write("Orders by state: " + ", ".join(f"{state} {n}" for state, n in health.counts.items()))
        oldest = health.oldest_pending
        if oldest:
            age = since(oldest.age)
            write(f"Oldest pending order: {oldest.reference} ({oldest.status}), {age} old")
        else:
            write("Oldest pending order: none")
        grace = since(health.grace_period)
        write(f"Pending past the grace period ({grace}): {health.pending_past_grace}")
        stuck = f"Stuck past the deadline ({since(health.stuck_after)}): {health.stuck}"
        write(self.style.ERROR(stuck) if health.stuck else stuck)
        refunds = f"Failed refunds: {health.refunds_failed}"
        write(self.style.ERROR(refunds) if health.refunds_failed else refunds)
        write(f"Needing attention: {health.attention_count}")
        for item in health.attention:
            why = "; ".join(item.why)
            write(f"  {item.reference} [{item.status}, {since(item.age)} old]: {why}")
        if health.attention_count > len(health.attention):
            more = health.attention_count - len(health.attention)
            write(f"  ... and {more} more (raise --limit)")
        run = health.last_run
        if run is None:
            write(self.style.WARNING("Last reconciler run: never"))
        else:
            outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(run.outcomes.items())) or "none due"
            line = (
                f"Last reconciler run: {run.started_at:%Y-%m-%d %H:%M:%S} ({since(run.age)} ago), "
                f"{run.state}, {run.examined} examined ({outcomes}), {len(run.errors)} errors"
            )
            write(line if run.state == "ok" else self.style.WARNING(line))
        oldest_message = since(health.outbox_oldest_pending_age)
        write(
            f"Outbox backlog: {health.outbox_pending} pending (oldest {oldest_message}), "
            f"{health.outbox_failed} failed"
        )
        write(f"Unmatched Stripe events: {health.unmatched_unresolved} unresolved")
