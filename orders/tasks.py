"""django-q2 entry points for the outbox: take ids, call one service."""

from orders.outbox import dispatch
from stripe_gateway import budget


@budget.work_class(budget.OUTBOX)
def dispatch_outbox_message(message_id: int) -> str | None:
    return dispatch.dispatch_outbox_message(message_id)


@budget.work_class(budget.OUTBOX)
def dispatch_due_outbox() -> dict[str, int]:
    return dispatch.dispatch_due_messages()
