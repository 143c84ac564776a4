"""``manage.py audit_payments``: hold Stripe's payments against our orders (I1-I5)."""

import json

from django.core.management.base import BaseCommand

from payments.audit import audit_payments
from payments.cli import EXIT_CODES_HELP, attention, parse_duration, usage_error
from payments.sweeps import TimeBox
from stripe_gateway import budget


class Command(BaseCommand):
    help = (
        "Hold recent PaymentIntents at Stripe against the orders and check the invariants: "
        "money without a paid order (I2), double charges (I1), paid orders without money (I3), "
        "stuck orders (I4), confirmation emails (I5). Prints each finding; exits 1 if any "
        "invariant is broken, or if Stripe could not be read to the window's end (the partial "
        "report is printed first). --fix repairs what is safe (attach, refund, cancel strays). "
        "--time-box continues the walk the scheduled audit keeps and stops in time. "
        + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="Repair what can be repaired safely."
        )
        parser.add_argument("--json", action="store_true", help="Print the findings as JSON.")
        parser.add_argument(
            "--max-payment-intents",
            type=int,
            default=10_000,
            help="Read at most this many PaymentIntents from Stripe (default 10000).",
        )
        parser.add_argument(
            "--time-box",
            default=None,
            metavar="DURATION",
            help=(
                "Stop after this long (e.g. 60s, 10m) with a partial report, continuing and "
                "leaving the walk's cursor (as the scheduled audit does). Default: no limit."
            ),
        )

    @budget.work_class(budget.AUDIT)
    def handle(self, *args, fix, json: bool, max_payment_intents, time_box, **options):
        if max_payment_intents < 1:
            raise usage_error("--max-payment-intents must be a positive number")
        box = None
        if time_box is not None:
            box = TimeBox.of(parse_duration(time_box, option="--time-box"))
            if not box.seconds:
                raise usage_error("--time-box must be longer than zero")
        report = audit_payments(
            fix=fix,
            max_items=max_payment_intents,
            progress=lambda line: self.stderr.write(line),
            time_box=box,
        )
        if json:
            self.stdout.write(self._as_json(report))
        else:
            for finding in report.findings:
                self.stdout.write(finding.line())
            self.stdout.write(report.summary_line())
        if report.broken:
            raise attention(f"{len(report.broken)} invariant violations")
        if report.stripe_failed:
            raise attention(f"Partial audit: {report.stopped}")

    @staticmethod
    def _as_json(report) -> str:
        return json.dumps(
            {
                "payment_intents_seen": report.payment_intents_seen,
                "orders_checked": report.orders_checked,
                "findings": [vars(f) for f in report.findings],
                "broken": len(report.broken),
                "partial": report.partial,
                "stopped": report.stopped,
                "checked_down_to": report.checked_down_to,
                "stripe_requests": {
                    "list": report.list_requests,
                    "refunds": report.refund_requests,
                },
            },
            indent=2,
        )
