"""``manage.py reconcile_payments``: run the reconciler's sweep by hand."""

from django.core.management.base import BaseCommand

from orders.models import Order
from payments.cli import EXIT_CODES_HELP, attention, parse_duration, usage_error
from payments.reconcile import reconcile_pending_orders
from payments.sweeps import TimeBox
from stripe_gateway import budget


class Command(BaseCommand):
    help = (
        "Push pending orders to their end: read each order's payment at Stripe and apply it, "
        "re-drive payments whose outcome is unknown, and unwind orders past the give-up "
        "deadline. Safe to run while the scheduled reconciler runs. Exits 1 if any order failed. "
        "A run stopped early (--time-box, or Stripe rate-limiting its reads) says so and "
        "gives back the orders it did not work on; run it again to continue. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--order",
            action="append",
            default=[],
            metavar="REF",
            help="Only this order (reference like ORD-XXXXXXXX, or numeric id). Repeatable.",
        )
        parser.add_argument(
            "--older-than",
            default=None,
            metavar="DURATION",
            help=(
                "Only orders pending longer than this (e.g. 30s, 10m, 2h). "
                "Default: the grace period."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be done; change nothing."
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="Examine at most this many orders."
        )
        parser.add_argument(
            "--time-box",
            default=None,
            metavar="DURATION",
            help="Stop claiming orders after this long (e.g. 60s, 10m); default: no limit.",
        )

    @budget.work_class(budget.RECONCILE)
    def handle(self, *args, order, older_than, dry_run, limit, time_box, **options):
        if limit is not None and limit < 1:
            raise usage_error("--limit must be a positive number")
        if order and older_than is not None:
            raise usage_error(
                "--older-than cannot be combined with --order: named orders are taken at any age"
            )
        age = parse_duration(older_than, option="--older-than") if older_than is not None else None
        box = None
        if time_box is not None:
            box = TimeBox.of(parse_duration(time_box, option="--time-box"))
            if not box.seconds:
                raise usage_error("--time-box must be longer than zero")
        order_ids = [self._resolve(ref) for ref in order] or None
        summary = reconcile_pending_orders(
            older_than=age,
            order_ids=order_ids,
            dry_run=dry_run,
            max_orders=limit,
            time_box=box,
            progress=lambda line: self.stderr.write(line),
        )
        if dry_run:
            for line in summary.planned:
                self.stdout.write(line)
            self.stdout.write(f"Dry run: {len(summary.planned)} orders would be reconciled.")
            return
        for error in summary.errors:
            self.stderr.write(self.style.ERROR(error))
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(summary.outcomes.items())) or "none due"
        self.stdout.write(f"Reconciled {summary.examined} orders ({outcomes}).")
        self.stdout.write(
            f"Read {summary.settled_from_list} payments from {summary.list_requests} list "
            "requests to Stripe."
        )
        if summary.partial:
            self.stdout.write(
                self.style.WARNING(
                    f"Partial run: stopped early ({summary.stopped}); {summary.released} claimed "
                    "orders given back. Run again to continue."
                )
            )
        if summary.failed:
            raise attention(f"{summary.failed} orders could not be reconciled")

    def _resolve(self, ref: str) -> int:
        query = Order.objects.filter(reference=ref.upper())
        if ref.isdigit():
            query = Order.objects.filter(pk=int(ref))
        order_id = query.values_list("pk", flat=True).first()
        if order_id is None:
            raise usage_error(f"No order {ref!r}")
        return order_id
