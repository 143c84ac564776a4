"""django-q2 entry points for convergence: each takes ids, calls one service, returns a summary."""

import logging

from orders.payment.converge import converge_order
from payments.audit import audit_payments as audit
from payments.reconcile import reconcile_pending_orders
from payments.retention import prune_webhook_records as prune
from stripe_gateway import budget

logger = logging.getLogger(__name__)


@budget.work_class(budget.RECONCILE)
def reconcile_payments() -> dict:
    summary = reconcile_pending_orders(max_orders=5000)
    return {"outcomes": dict(summary.outcomes), "errors": summary.errors[:10]}


@budget.work_class(budget.RECONCILE)
def reconcile_order(order_id: int) -> str:
    return converge_order(order_id)


@budget.work_class(budget.AUDIT)
def audit_payments() -> dict:
    report = audit(fix=True)
    for finding in report.broken:
        logger.error("payment invariant broken", extra={"finding": finding.line()})
    return {"broken": [f.line() for f in report.broken], "seen": report.payment_intents_seen}


def prune_webhook_records() -> dict:
    return prune().as_dict()
