"""django-q2 entry points for the outbox: take ids, call one service."""

import logging

from qworker.brokers import enqueue_errors

logger = logging.getLogger(__name__)


def schedule_outbox_dispatch(message_id: int) -> None:
    """Queue one message for dispatch; if queueing fails the periodic sweep still sends it."""
    from django_q.tasks import async_task

    try:
        async_task(
            "orders.tasks.dispatch_outbox_message", message_id, task_name=f"outbox-{message_id}"
        )
    except enqueue_errors():  # the database's, or Redis's when it is the broker
        logger.warning("could not queue outbox dispatch", extra={"outbox_id": message_id})


def dispatch_outbox_message(message_id: int) -> str | None:
    from orders.outbox import dispatch_outbox_message as dispatch

    return dispatch(message_id)


def dispatch_due_outbox() -> dict[str, int]:
    from orders.outbox import dispatch_due_messages

    return dispatch_due_messages()
