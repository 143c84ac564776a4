"""django-q2 entry points for convergence: each takes ids, calls one service, returns a summary."""

import logging

from orders.payment.converge import converge_order
from payments.audit import audit_payments as audit
from payments.reconcile import reconcile_pending_orders
from payments.retention import prune_webhook_records as prune
from payments.sweeps import TimeBox
from stripe_gateway import budget

logger = logging.getLogger(__name__)


@budget.work_class(budget.RECONCILE)
def reconcile_payments() -> dict:
    # Time-boxed well inside the task timeout: what is left waits for the next minute's run.
    summary = reconcile_pending_orders(time_box=TimeBox.scheduled())
    return {
        "outcomes": dict(summary.outcomes),
        "errors": summary.errors[:10],
        "stopped": summary.stopped,
        "released": summary.released,
    }


@budget.work_class(budget.RECONCILE)
def reconcile_order(order_id: int) -> str:
    return converge_order(order_id)


@budget.work_class(budget.AUDIT)
def audit_payments() -> dict:
    # Time-boxed and resumable: a run that stops early says so; the next one continues.
    report = audit(fix=True, time_box=TimeBox.scheduled())
    for finding in report.broken:
        logger.error("payment invariant broken", extra={"finding": finding.line()})
    if report.partial:
        logger.warning("audit run partial", extra={"reason": report.stopped})
    return {
        "broken": [f.line() for f in report.broken],
        "seen": report.payment_intents_seen,
        "partial": report.partial,
        "stopped": report.stopped,
        "checked_down_to": report.checked_down_to,
    }


def prune_webhook_records() -> dict:
    return prune().as_dict()
