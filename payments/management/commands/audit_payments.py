"""``manage.py audit_payments``: hold Stripe's payments against our orders (I1-I5)."""

import json

from django.core.management.base import BaseCommand

from payments.audit import audit_payments
from payments.cli import EXIT_CODES_HELP, attention, usage_error
from stripe_gateway import GatewayError, budget


class Command(BaseCommand):
    help = (
        "Hold recent PaymentIntents at Stripe against the orders and check the invariants: "
        "money without a paid order (I2), double charges (I1), paid orders without money (I3), "
        "stuck orders (I4), confirmation emails (I5). Prints each finding; exits 1 if any "
        "invariant is broken or Stripe cannot be read. --fix repairs what is safe (attach, "
        "refund, cancel strays). " + EXIT_CODES_HELP
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

    @budget.work_class(budget.AUDIT)
    def handle(self, *args, fix, json: bool, max_payment_intents, **options):
        if max_payment_intents < 1:
            raise usage_error("--max-payment-intents must be a positive number")
        try:
            report = audit_payments(
                fix=fix,
                max_items=max_payment_intents,
                progress=lambda line: self.stderr.write(line),
            )
        except GatewayError as exc:
            raise attention(f"Could not read from Stripe: {exc}") from exc
        if json:
            self.stdout.write(self._as_json(report))
        else:
            for finding in report.findings:
                self.stdout.write(finding.line())
            self.stdout.write(
                f"Audited {report.payment_intents_seen} PaymentIntents and "
                f"{report.orders_checked} paid orders: {len(report.broken)} invariant violations."
            )
        if report.broken:
            raise attention(f"{len(report.broken)} invariant violations")

    @staticmethod
    def _as_json(report) -> str:
        return json.dumps(
            {
                "payment_intents_seen": report.payment_intents_seen,
                "orders_checked": report.orders_checked,
                "findings": [vars(f) for f in report.findings],
                "broken": len(report.broken),
            },
            indent=2,
        )
