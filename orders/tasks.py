"""django-q2 entry points for the outbox: take ids, call one service."""

from orders.outbox import dispatch


def dispatch_outbox_message(message_id: int) -> str | None:
    return dispatch.dispatch_outbox_message(message_id)


def dispatch_due_outbox() -> dict[str, int]:
    return dispatch.dispatch_due_messages()
