"""django-q2 entry points for the outbox and support's requests: take ids, call one service."""

from orders.outbox import dispatch
from orders.support import reconcile
from stripe_gateway import budget


@budget.work_class(budget.OUTBOX)
def dispatch_outbox_message(message_id: int) -> str | None:
    return dispatch.dispatch_outbox_message(message_id)


@budget.work_class(budget.OUTBOX)
def dispatch_due_outbox() -> dict[str, int]:
    return dispatch.dispatch_due_messages()


@budget.work_class(budget.STAFF)
def reconcile_for_support(order_id: int, request_id: int) -> str:
    """Converge one order for a staff "reconcile now" request and record how it went."""
    return reconcile.run_requested_reconcile(order_id=order_id, request_id=request_id)
