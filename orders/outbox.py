"""Dispatch outbox messages: emails, refunds and PaymentIntent cancellations.

A message is claimed (lease + attempt count) in one short transaction, its effect is
performed outside any transaction, and its completion is booked in another. Stripe effects
are made safe to repeat by checking Stripe first (a refund carries the message id in its
metadata and its own idempotency key), because the stand-in does not honour keys.
"""

import logging
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.template.loader import render_to_string

from orders import services
from orders.models import OrderEvent, OutboxMessage
from payments import gateway
from payments.exceptions import GatewayError, RequestRejected
from shop import clock

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=120)

EMAIL_SUBJECTS = {
    OutboxMessage.Kind.CONFIRMATION_EMAIL: "Thank you for your order {reference}",
    OutboxMessage.Kind.PAYMENT_FAILED_EMAIL: "Payment failed for order {reference}: nothing was charged",
    OutboxMessage.Kind.CANCELED_EMAIL: "Your order {reference} was cancelled",
    OutboxMessage.Kind.REFUNDED_EMAIL: "Your order {reference} was refunded",
}


class PermanentFailure(Exception):
    """The message can never succeed as written; staff must look at it."""


def _claim(message_id: int) -> OutboxMessage | None:
    now = clock.now()
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .select_related("order")
            .filter(pk=message_id, state=OutboxMessage.State.PENDING, available_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .first()
        )
        if message is None:
            return None
        message.attempts += 1
        message.lease_until = now + settings.PAYMENTS.get("OUTBOX_LEASE", LEASE)
        message.save(update_fields=["attempts", "lease_until"])
        return message


def _send_email(message: OutboxMessage) -> dict:
    order = message.order
    context = {"order": order, "lines": list(order.lines.all()), "site_url": settings.SITE_URL}
    body = render_to_string(f"emails/{message.kind}.txt", context)
    subject = EMAIL_SUBJECTS[message.kind].format(reference=order.reference)
    # A Message-ID fixed by the outbox row: a worker that dies after the send but before
    # booking it makes the retry send the same message again, which mail systems collapse.
    host = urlsplit(settings.SITE_URL).hostname or "shop.invalid"
    message_id = f"<outbox-{message.pk}.{order.reference}@{host}>"
    EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, [order.email], headers={"Message-ID": message_id}
    ).send()
    return {"to": order.email, "subject": subject, "message_id": message_id}


def _refund(message: OutboxMessage) -> dict:
    payment_intent_id = message.payload["payment_intent_id"]
    amount = int(message.payload["amount"])
    existing = gateway.list_refunds(payment_intent_id)
    already = sum(r.amount for r in existing if r.status in ("succeeded", "pending"))
    for refund in existing:
        if refund.metadata.get("outbox_id") == str(message.pk):
            refunded_total = already  # made by an earlier attempt whose reply or booking was lost
            break
    else:
        pi = gateway.retrieve_payment_intent(payment_intent_id)
        if not pi.succeeded:
            raise PermanentFailure(f"PaymentIntent {pi.id} is {pi.status}; nothing to refund")
        if already + amount > pi.amount:
            raise PermanentFailure(
                f"refund of {amount} would exceed what is left ({pi.amount - already})"
            )
        refund = gateway.create_refund(
            payment_intent_id=payment_intent_id,
            amount=amount,
            idempotency_key=message.idempotency_key,
            metadata={
                "outbox_id": str(message.pk),
                "order_id": str(message.order_id),
                "shop": settings.STRIPE_METADATA_TAG,
            },
        )
        # Stripe's total as it stands now, not ``already`` plus this refund: another worker may
        # have refunded the same payment since ``existing`` was read (found by tests/properties).
        refunded_total = sum(
            r.amount for r in gateway.list_refunds(payment_intent_id) if r.status in ("succeeded", "pending")
        )
    services.record_refund(
        message.order_id,
        payment_intent_id=payment_intent_id,
        refunded_total=refunded_total,
        refund_id=refund.id,
        cause="outbox:refund",
    )
    return {"refund": refund.id, "amount": refund.amount}


def _cancel_payment_intent(message: OutboxMessage) -> dict:
    payment_intent_id = message.payload["payment_intent_id"]
    try:
        pi = gateway.cancel_payment_intent(
            payment_intent_id=payment_intent_id, idempotency_key=message.idempotency_key
        )
    except RequestRejected:
        pi = gateway.retrieve_payment_intent(payment_intent_id)
    if pi.succeeded:
        # It succeeded before we could close it: apply that truth (which refunds if unfulfillable).
        services.apply_payment_intent(message.order_id, pi, cause="outbox:cancel_payment_intent")
    return {"payment_intent": pi.id, "status": pi.status}


PERFORMERS = {
    OutboxMessage.Kind.CONFIRMATION_EMAIL: _send_email,
    OutboxMessage.Kind.PAYMENT_FAILED_EMAIL: _send_email,
    OutboxMessage.Kind.CANCELED_EMAIL: _send_email,
    OutboxMessage.Kind.REFUNDED_EMAIL: _send_email,
    OutboxMessage.Kind.REFUND: _refund,
    OutboxMessage.Kind.CANCEL_PAYMENT_INTENT: _cancel_payment_intent,
}


def _finish(message: OutboxMessage, *, state: str, result: dict | None = None, error: str = "") -> None:
    now = clock.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().select_related("order").get(pk=message.pk)
        message.lease_until = None
        if state == OutboxMessage.State.PENDING:
            message.available_at = now + services.retry_delay(message.attempts)
            message.last_error = error[:2000]
        else:
            message.state = state
            message.done_at = now
            message.result = result or {}
            message.last_error = error[:2000]
        message.save()
        if state != OutboxMessage.State.PENDING or message.attempts == 1:
            services.record_event(
                message.order,
                kind=OrderEvent.Kind.OUTBOX,
                cause=f"outbox:{message.kind}",
                message=(
                    f"{message.get_kind_display()}: done"
                    if state == OutboxMessage.State.SENT
                    else f"{message.get_kind_display()}: {state} ({error})"
                ),
                details={"outbox_id": message.pk, "attempts": message.attempts, **(result or {})},
            )


def dispatch_outbox_message(message_id: int) -> str | None:
    """Perform one outbox message if it is due and nobody else holds it; return its new state."""
    message = _claim(message_id)
    if message is None:
        return None
    perform = PERFORMERS[message.kind]
    try:
        result = perform(message)
    except PermanentFailure as exc:
        _finish(message, state=OutboxMessage.State.FAILED, error=str(exc))
        return OutboxMessage.State.FAILED
    except (GatewayError, smtplib.SMTPException, OSError, DatabaseError) as exc:
        logger.warning(
            "outbox message failed",
            extra={"outbox_id": message.pk, "kind": message.kind, "error": str(exc)},
        )
        final = message.attempts >= MAX_ATTEMPTS
        state = OutboxMessage.State.FAILED if final else OutboxMessage.State.PENDING
        _finish(message, state=state, error=f"{type(exc).__name__}: {exc}")
        return state
    _finish(message, state=OutboxMessage.State.SENT, result=result)
    return OutboxMessage.State.SENT


def due_message_ids(limit: int = 500) -> list[int]:
    now = clock.now()
    return list(
        OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING, available_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .order_by("available_at")
        .values_list("pk", flat=True)[:limit]
    )


def dispatch_due_messages(limit: int = 500) -> dict[str, int]:
    """Dispatch every due message (the safety net behind the on-commit dispatch)."""
    counts: dict[str, int] = {}
    for message_id in due_message_ids(limit):
        state = dispatch_outbox_message(message_id)
        if state:
            counts[state] = counts.get(state, 0) + 1
    return counts
