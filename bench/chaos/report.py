"""The chaos run's report: orders placed, customers' outcomes, faults injected, time to
converge, violations.
"""

from bench.report import framed


def print_report(args, customers, verdict, faults, restarts: int, converged: float | None) -> None:
    """``faults``: the injector's counts; ``restarts``: how often a cluster replaced itself."""
    findings, violations = verdict.findings, verdict.violations
    lat = sorted(customers.latencies)
    orders = sum(
        findings.counts[s]
        for s in (
            "payment_starting",
            "requires_action",
            "paid",
            "payment_failed",
            "canceled",
            "refunded",
        )
    )
    with framed("chaos run"):
        print(f"stripe semantics    : {getattr(args, 'stripe_semantics', 'on')}")
        print(f"checkouts attempted : {args.orders} ({args.concurrency} concurrent customers)")
        print(f"customer outcomes   : {dict(sorted(customers.outcomes.items()))}")
        print(
            f"orders placed       : {orders}  "
            + ", ".join(
                f"{s}={findings.counts[s]}"
                for s in (
                    "paid",
                    "payment_failed",
                    "canceled",
                    "refunded",
                    "payment_starting",
                    "requires_action",
                )
                if findings.counts[s]
            )
        )
        if lat:
            print(
                f"checkout POST       : p50 {lat[len(lat) // 2]:.2f}s, "
                f"p99 {lat[int(len(lat) * 0.99)]:.2f}s, "
                f"max {lat[-1]:.2f}s (retries included)"
            )
        if verdict.unpaid_reasons:
            print("orders not paid     :")
        for reason, count in sorted(verdict.unpaid_reasons.items()):
            print(f"   {count:5d}  {reason}")
        moved = verdict.new_keys
        print(
            f"moved to a new key  : {moved.get('orders', 0)} orders (key_round > 0), "
            f"{moved.get('paid', 0)} of them paid; rounds {moved.get('rounds', [])}"
        )
        print(
            f"payment intents     : {findings.counts['payment_intents']} at Stripe "
            + ", ".join(
                f"{k[3:]}={v}" for k, v in sorted(findings.counts.items()) if k.startswith("pi_")
            )
        )
        print(
            f"confirmation emails : {findings.counts['confirmation_emails']} distinct"
            + (
                f" (+{findings.counts['confirmation_copies_same_message_id']} resent after a crash "
                "with the same Message-ID)"
                if findings.counts["confirmation_copies_same_message_id"]
                else ""
            )
        )
        print("faults injected     :")
        for name, count in sorted(faults.items()):
            print(f"   {count:5d}  {name}")
        if restarts:
            print(
                f"cluster restarts    : {restarts} (stopped itself: a killed process may have held "
                "a queue lock)"
            )
        print(
            "time to converge    : "
            f"{f'{converged:.1f}s' if converged is not None else 'DID NOT CONVERGE'}"
            " (after the faults stopped)"
        )
        if verdict.audit_warnings:
            print(f"audit warnings      : {dict(verdict.audit_warnings)} (not violations)")
        print(f"violations          : {len(violations)}")
        for line in violations:
            print(f"   VIOLATION {line}")
