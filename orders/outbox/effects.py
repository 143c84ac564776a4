"""What performing each kind of outbox message does: send an email, refund, cancel at Stripe.

Stripe effects are made safe to repeat by checking Stripe first (a refund carries the
message id in its metadata as well as its own idempotency key), because the stand-in does
not honour keys. A ``PermanentFailure`` means the message can never succeed as written.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

import stripe_gateway
from orders import selectors
from orders.models import OutboxMessage
from orders.payment import apply

EMAIL_SUBJECTS = {
    OutboxMessage.Kind.CONFIRMATION_EMAIL: "Thank you for your order {reference}",
    OutboxMessage.Kind.PAYMENT_FAILED_EMAIL: (
        "Payment failed for order {reference}: nothing was charged"
    ),
    OutboxMessage.Kind.CANCELED_EMAIL: "Your order {reference} was cancelled",
    OutboxMessage.Kind.REFUNDED_EMAIL: "Your order {reference} was refunded",
    OutboxMessage.Kind.SHIPPED_EMAIL: "Your order {reference} is on its way",
}


class PermanentFailure(Exception):
    """The message can never succeed as written; staff must look at it."""


def _subject(message: OutboxMessage) -> str:
    order = message.order
    if message.kind == OutboxMessage.Kind.REFUNDED_EMAIL and message.discriminator.startswith(
        "partial:"
    ):
        return f"Part of your order {order.reference} was refunded"
    return EMAIL_SUBJECTS[message.kind].format(reference=order.reference)


def email_context(message: OutboxMessage) -> dict:
    """What an email shows: the order as it is, and the figures the message was written with."""
    order = message.order
    payload = message.payload or {}
    refunded_total = int(payload.get("refunded_total", order.refunded_amount))
    return {
        "order": order,
        "lines": list(order.lines.all()),
        "site_url": settings.SITE_URL,
        "shop_name": getattr(settings, "SHOP_NAME", "Convergent Shop"),
        "failure_reason": selectors.failure_reason_for_customer(order),
        # A refund email's own figures: this refund, all refunds so far, what stays paid.
        "refund_amount": int(payload.get("amount", order.refunded_amount)),
        "refunded_total": refunded_total,
        "paid_left": order.total_amount - refunded_total,
        "partial": message.discriminator.startswith("partial:"),
    }


def send_email(message: OutboxMessage) -> dict:
    """Send the message's email, plain text with an HTML alternative."""
    order = message.order
    context = email_context(message)
    text = render_to_string(f"emails/{message.kind}.txt", context)
    html = render_to_string(f"emails/{message.kind}.html", context)
    subject = _subject(message)
    # A Message-ID fixed by the outbox row: a worker that dies after the send but before
    # booking it makes the retry send the same message again, which mail systems collapse.
    host = urlsplit(settings.SITE_URL).hostname or "shop.invalid"
    message_id = f"<outbox-{message.pk}.{order.reference}@{host}>"
    email = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [order.email],
        headers={"Message-ID": message_id},
    )
    email.attach_alternative(html, "text/html")
    email.send()
    return {"to": order.email, "subject": subject, "message_id": message_id}


def refund(message: OutboxMessage) -> dict:
    payment_intent_id = message.payload["payment_intent_id"]
    amount = int(message.payload["amount"])
    existing = stripe_gateway.list_refunds(payment_intent_id)
    already = stripe_gateway.refunded_total(existing)
    for made in existing:
        if made.metadata.get("outbox_id") == str(message.pk):
            refunded_total = already  # made by an earlier attempt whose reply or booking was lost
            break
    else:
        pi = stripe_gateway.retrieve_payment_intent(payment_intent_id)
        if not pi.succeeded:
            raise PermanentFailure(f"PaymentIntent {pi.id} is {pi.status}; nothing to refund")
        if already + amount > pi.amount:
            raise PermanentFailure(
                f"refund of {amount} would exceed what is left ({pi.amount - already})"
            )
        made = stripe_gateway.create_refund(
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
        refunded_total = stripe_gateway.refunded_total(
            stripe_gateway.list_refunds(payment_intent_id)
        )
    apply.record_refund(
        message.order_id,
        payment_intent_id=payment_intent_id,
        refunded_total=refunded_total,
        refund_id=made.id,
        cause="outbox:refund",
    )
    return {"refund": made.id, "amount": made.amount}


def cancel_payment_intent(message: OutboxMessage) -> dict:
    payment_intent_id = message.payload["payment_intent_id"]
    try:
        pi = stripe_gateway.cancel_payment_intent(
            payment_intent_id=payment_intent_id,
            idempotency_key=message.idempotency_key,
        )
    except stripe_gateway.RequestRejected:
        pi = stripe_gateway.retrieve_payment_intent(payment_intent_id)
    if pi.succeeded:
        # It succeeded before we could close it: apply that truth (which refunds if unfulfillable).
        apply.apply_payment_intent(message.order_id, pi, cause="outbox:cancel_payment_intent")
    return {"payment_intent": pi.id, "status": pi.status}


PERFORMERS = {
    OutboxMessage.Kind.CONFIRMATION_EMAIL: send_email,
    OutboxMessage.Kind.PAYMENT_FAILED_EMAIL: send_email,
    OutboxMessage.Kind.CANCELED_EMAIL: send_email,
    OutboxMessage.Kind.REFUNDED_EMAIL: send_email,
    OutboxMessage.Kind.SHIPPED_EMAIL: send_email,
    OutboxMessage.Kind.REFUND: refund,
    OutboxMessage.Kind.CANCEL_PAYMENT_INTENT: cancel_payment_intent,
}
