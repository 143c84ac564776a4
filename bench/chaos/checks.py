"""The chaos run's verdict once it converged: I1-I6 from both sides, false failures, the
shop's audit.

``bench.invariants`` reads Stripe's lists, the database and the mail folder; the shop's own
``manage.py audit_payments`` checks the same from its side.
"""

import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from bench import stack
from bench.chaos.customers import CARDS
from bench.chaos.processes import TAG
from bench.stack import PY


@dataclass
class Verdict:
    findings: object  # bench.invariants.Findings
    violations: list[str]
    unpaid_reasons: Counter = field(default_factory=Counter)
    audit_warnings: Counter = field(default_factory=Counter)
    new_keys: dict = field(default_factory=dict)


def false_failures(customers) -> tuple[list[str], Counter]:
    """An order paid with a good card must end paid, whatever failed on the way.

    Never "payment failed" (an unknown outcome is not a decline), never cancelled at the
    give-up deadline (a 500 that Stripe saved and replays for a key is no reason to give up),
    never left pending. Returns the violations and why the orders that are not paid are not.
    """
    from orders.models import Order, OrderStatus

    unpaid_reasons = Counter()
    out = []
    for order in Order.objects.exclude(status=OrderStatus.PAID):
        unpaid_reasons[f"{order.status}: {order.status_reason[:70]}"] += 1
        if customers.cards.get(order.email) == CARDS[0][0]:
            out.append(
                f"false failure: {order.reference} paid with a good card is {order.status}: "
                f"{order.status_reason}"
            )
    return out, unpaid_reasons


def new_keys() -> dict:
    """Orders that moved forward under a new key (``key_round`` > 0), and how many ended paid."""
    from orders.models import Order, OrderStatus

    moved = Order.objects.filter(key_round__gt=0)
    return {
        "orders": moved.count(),
        "paid": moved.filter(status=OrderStatus.PAID).count(),
        "rounds": sorted(moved.values_list("key_round", flat=True)),
    }


def audit(env: dict, stripe_base: str) -> tuple[list[str], Counter]:
    """``audit_payments --json`` against Stripe itself: its broken findings, and its warnings
    by invariant.
    """
    env = {**env, "STRIPE_API_BASE": stripe_base}
    result = subprocess.run(
        [PY, "manage.py", "audit_payments", "--json"],
        cwd=stack.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"audit_payments failed: {result.stderr.strip()[-500:]}"], Counter()
    warnings = Counter(f["invariant"] for f in report["findings"] if f["severity"] != "broken")
    return [
        f"audit {f['invariant']} {f['order']} {f['payment_intent']}: {f['message']}"
        for f in report["findings"]
        if f["severity"] == "broken" and not f["fixed"]
    ], warnings


def check(chaos_stack, customers, converged: float | None, settle_seconds: float) -> Verdict:
    from django.db import connection

    from bench.invariants import check_all

    connection.close()
    findings = check_all(
        stripe_base=chaos_stack.stripe_base,
        tag=TAG,
        mail_dir=chaos_stack.mail_dir,
        stock_expected=chaos_stack.stock_expected,
    )
    failures, unpaid_reasons = false_failures(customers)
    audited, audit_warnings = audit(chaos_stack.env, chaos_stack.stripe_base)
    violations = findings.violations + failures + audited
    if converged is None:
        violations.insert(0, f"I4: not converged within {settle_seconds}s")
    return Verdict(findings, violations, unpaid_reasons, audit_warnings, new_keys())
