"""Support's "reconcile now", done by the worker so that the agent's page answers at once.

The request is recorded in the order's timeline ("reconcile requested by X") and the work
is queued to django-q2 after the commit; the task converges the order as the reconciler
would and records the outcome against the request, which the order page shows when it
refreshes. A request for an order someone is driving right now (its lease is held) or one
that already waits for the worker is answered, not queued twice.
"""

import logging
from dataclasses import dataclass

from django.db import DatabaseError, transaction

from orders import clock
from orders.exceptions import ActionRefused
from orders.models import Order, OrderEvent
from orders.payment import converge
from orders.state import lock_order
from orders.support.selectors import (
    RECONCILE_REQUEST_CAUSE,
    RECONCILE_RESULT_CAUSE,
    reconcile_result,
    reconcile_status,
)
from orders.timeline import record_event
from qworker.brokers import enqueue_errors
from stripe_gateway import GatewayError

logger = logging.getLogger(__name__)

RECONCILE_TASK = "orders.tasks.reconcile_for_support"

QUEUED = "queued"
ALREADY_REQUESTED = "already_requested"  # this very submission (same form token) was queued
ALREADY_RUNNING = "already_running"  # another request waits for the worker
BUSY = "busy"  # checkout, a webhook or the reconciler holds the order's lease now


@dataclass(frozen=True)
class ReconcileRequest:
    order: Order
    state: str
    request_id: int | None = None

    def result(self) -> OrderEvent | None:
        """The outcome, if the worker already recorded it (always, with a synchronous worker)."""
        if self.request_id is None:
            return None
        return reconcile_result(self.order, self.request_id)


def request_reconcile(
    *, order_id: int, actor, reason: str = "", request_token: str = ""
) -> ReconcileRequest:
    """Record that staff asked to reconcile a pending order, and queue the work after commit."""
    reason = (reason or "").strip()[:500] or "Reconcile requested by support"
    with transaction.atomic():
        order = lock_order(order_id)
        if request_token:
            replay = (
                order.events.filter(
                    kind=OrderEvent.Kind.STAFF,
                    cause=RECONCILE_REQUEST_CAUSE,
                    details__request_token=request_token,
                )
                .order_by("pk")
                .first()
            )
            if replay is not None:
                return ReconcileRequest(order, ALREADY_REQUESTED, replay.pk)
        if not order.is_pending:
            raise ActionRefused(
                f"Order {order.reference} is already {order.get_status_display().lower()}."
            )
        status = reconcile_status(order)
        if status is not None and status.running:
            return ReconcileRequest(order, ALREADY_RUNNING, status.request.pk)
        if order.lease_until is not None and order.lease_until > clock.now():
            return ReconcileRequest(order, BUSY)
        username = getattr(actor, "username", "")
        request = record_event(
            order,
            kind=OrderEvent.Kind.STAFF,
            cause=RECONCILE_REQUEST_CAUSE,
            message=f"Reconcile requested by {username or 'staff'}: {reason}",
            details={"user": username, "queued": True, "request_token": request_token},
            actor=actor,
        )
        transaction.on_commit(lambda: _queue(order_id, request.pk))
    return ReconcileRequest(order, QUEUED, request.pk)


def _queue(order_id: int, request_id: int) -> None:
    from django_q.tasks import async_task  # only once the app registry is ready

    try:
        async_task(RECONCILE_TASK, order_id, request_id, task_name=f"reconcile-{request_id}")
    except enqueue_errors():
        logger.warning(
            "could not queue support reconcile",
            extra={"order_id": order_id, "request_id": request_id},
        )
        _record_result(
            order_id,
            request_id,
            outcome="not_queued",
            message=(
                "The check could not be queued; the reconciler's regular sweep still looks "
                "at this order. Try again in a minute."
            ),
        )


def run_requested_reconcile(*, order_id: int, request_id: int) -> str:
    """Converge the order for a staff request and record the outcome against that request."""
    order = Order.objects.get(pk=order_id)
    if reconcile_result(order, request_id) is not None:
        return "already_reported"  # the worker retried a task that had finished
    error = ""
    try:
        outcome = converge.converge_order(order_id)
    except GatewayError as exc:
        # Stripe refused a request outright (e.g. it does not know the PaymentIntent).
        logger.warning("support reconcile failed", extra={"order_id": order_id})
        outcome, error = "refused", f"{type(exc).__name__}: {exc}"
    order = Order.objects.get(pk=order_id)
    if order.is_pending:
        message = f"Reconcile finished: the order is still {order.get_status_display().lower()}."
    else:
        message = f"Reconcile finished: the order is {order.get_status_display().lower()}."
    details = {"outcome": outcome, "status": order.status}
    if error:
        details["error"] = error
    elif order.is_pending and order.last_error:
        details["last_error"] = order.last_error
    _record_result(order_id, request_id, outcome=outcome, message=message, details=details)
    return outcome


def _record_result(
    order_id: int, request_id: int, *, outcome: str, message: str, details: dict | None = None
) -> None:
    try:
        with transaction.atomic():
            order = lock_order(order_id)
            if reconcile_result(order, request_id) is not None:
                return
            record_event(
                order,
                kind=OrderEvent.Kind.RECONCILE,
                cause=RECONCILE_RESULT_CAUSE,
                message=message,
                details={"request_id": request_id, "outcome": outcome, **(details or {})},
            )
    except DatabaseError:
        # The page says the check did not report back once its time is up.
        logger.warning("could not record support reconcile", extra={"order_id": order_id})
