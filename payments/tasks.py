"""django-q2 entry points for convergence: each calls one service."""


def reconcile_payments() -> dict:
    from payments.reconcile import reconcile_pending_orders

    summary = reconcile_pending_orders(max_orders=5000)
    return {"outcomes": dict(summary.outcomes), "errors": summary.errors[:10]}


def reconcile_order(order_id: int) -> str:
    from payments.reconcile import reconcile_order as reconcile

    return reconcile(order_id)


def audit_payments() -> dict:
    import logging

    from payments.audit import audit_payments as audit

    report = audit(fix=True)
    for finding in report.broken:
        logging.getLogger(__name__).error("payment invariant broken", extra={"finding": finding.line()})
    return {"broken": [f.line() for f in report.broken], "seen": report.payment_intents_seen}
