"""Resolve Stripe events no order matched: attach one to its order, or dismiss it with a reason.

Attaching reads the PaymentIntent from Stripe (outside any transaction), checks that it can
belong to the order staff picked (amount, currency, the order its metadata names, the card
and email it was paid with), then hands it to ``apply_payment_intent``: the path checkout,
webhooks and the reconciler use, so a payment for an order that can no longer take it is
refunded as any other. Each resolution keeps who, when and why on the event's row, and an
attachment is written in the order's timeline too.
"""

import logging

from django.conf import settings
from django.db import transaction

from orders import clock
from orders.exceptions import ActionRefused
from orders.models import Order, UnmatchedPaymentEvent
from orders.payment.apply import apply_payment_intent, record_refund
from orders.state import lock_order
from orders.support.actions import audit, require_reason
from orders.support.explain import explain_error
from stripe_gateway import (
    GatewayError,
    PaymentIntentSnapshot,
    list_refunds,
    refunded_total,
    retrieve_payment_intent,
)

logger = logging.getLogger(__name__)

ATTACH = "attach_stripe_event"
ATTACH_CAUSE = f"staff:{ATTACH}"  # the timeline's cause, as ``actions.audit`` writes it


def _already_resolved(event: UnmatchedPaymentEvent) -> ActionRefused:
    who = event.resolved_by.get_username() if event.resolved_by else "someone"
    when = f" at {event.resolved_at:%Y-%m-%d %H:%M} UTC" if event.resolved_at else ""
    what = event.get_resolution_display().lower() or "resolved"
    return ActionRefused(f"This event was already {what} by {who}{when}.")


def _resolve(event: UnmatchedPaymentEvent, resolution, *, actor, reason: str, order=None) -> None:
    """Record on the (locked) event how staff resolved it, by whom, when and why."""
    event.resolved = True
    event.resolution = resolution
    event.resolved_at = clock.now()
    event.resolved_by = actor
    event.resolution_reason = reason
    fields = ["resolved", "resolution", "resolved_at", "resolved_by", "resolution_reason"]
    if order is not None:
        event.order = order
        fields.append("order")
    event.save(update_fields=fields)


def check_belongs(order: Order, pi: PaymentIntentSnapshot) -> None:
    """Refuse, saying why, unless ``pi`` can be the payment of ``order``."""
    ref = order.reference
    if order.payment_intent_id and order.payment_intent_id != pi.id:
        raise ActionRefused(
            f"Order {ref} already has its own payment ({order.payment_intent_id}); this one is "
            "a different payment. Refund it in the Stripe dashboard, then dismiss this event "
            "with that reason."
        )
    if pi.requires_confirmation or (pi.cancellable and not pi.requires_action and not pi.declined):
        raise ActionRefused(
            f"Payment {pi.id} was never completed ({pi.status}): no money moved through it. "
            "Dismiss this event instead."
        )
    if pi.amount != order.total_amount or pi.currency != order.currency:
        raise ActionRefused(
            f"Payment {pi.id} is for {pi.amount / 100:.2f} {pi.currency.upper()}, order {ref} "
            f"for {order.total_amount / 100:.2f} {order.currency.upper()}: they cannot be the "
            "same purchase."
        )
    ours = pi.metadata.get("shop") == settings.STRIPE_METADATA_TAG
    named = (pi.metadata.get("order_reference") or "") if ours else ""
    if ours and ((named and named != ref) or (pi.order_id is not None and pi.order_id != order.pk)):
        raise ActionRefused(
            f"Payment {pi.id} names another order ({named or pi.order_id}), not {ref}."
        )
    if (
        pi.payment_method
        and order.payment_method_id
        and pi.payment_method != order.payment_method_id
    ):
        raise ActionRefused(
            f"Payment {pi.id} was made with another card ({pi.payment_method}) than order "
            f"{ref} ({order.payment_method_id}): not the same customer's checkout."
        )
    if pi.receipt_email and pi.receipt_email.lower() != order.email.lower():
        raise ActionRefused(
            f"Payment {pi.id} belongs to {pi.receipt_email}, order {ref} to {order.email}."
        )


def attach_unmatched_event(
    *, event_id: int, order_reference: str, actor, reason: str
) -> tuple[UnmatchedPaymentEvent, Order]:
    """Attach an unmatched event's PaymentIntent to the order staff picked, and apply it."""
    reason = require_reason(reason, kept="it is kept with the event")
    reference = (order_reference or "").strip().upper()
    event = UnmatchedPaymentEvent.objects.select_related("order", "resolved_by").get(pk=event_id)
    if event.resolved:
        if event.resolution == event.Resolution.ATTACHED and event.order:
            if event.order.reference == reference:
                return event, event.order  # the same submission again
        raise _already_resolved(event)
    pi_id = event.payment_intent_id
    if not pi_id:
        raise ActionRefused(
            "This event names no payment (PaymentIntent), so it cannot be attached to an "
            "order; dismiss it with a reason."
        )
    order = Order.objects.filter(reference=reference).first()
    if order is None:
        raise ActionRefused(f"There is no order {reference or '(none given)'}.")
    try:
        pi = retrieve_payment_intent(pi_id)
        # Refunds made in the Stripe dashboard are booked too (a charge.refunded event).
        refunded = refunded_total(list_refunds(pi_id)) if pi.succeeded else 0
    except GatewayError as exc:
        explained = explain_error(exc, retrying=False)
        raise ActionRefused(
            f"Could not read payment {pi_id} from Stripe: {explained.plain} Nothing was changed; "
            "try again in a minute.",
            detail=explained.detail,
        ) from exc
    check_belongs(order, pi)
    with transaction.atomic():
        # Lock order: the event, then the order (no other path locks events).
        event = UnmatchedPaymentEvent.objects.select_for_update().get(pk=event_id)
        if event.resolved:
            if event.resolution == event.Resolution.ATTACHED and event.order_id == order.pk:
                return event, Order.objects.get(pk=order.pk)  # a double submit won the race
            raise _already_resolved(event)
        order = lock_order(order.pk)
        check_belongs(order, pi)  # as it stands now, under the lock
        audit(
            order,
            action=ATTACH,
            actor=actor,
            reason=reason,
            details={
                "unmatched_event": event.pk,
                "stripe_event": event.stripe_id,
                "payment_intent": pi.id,
                "stripe_status": pi.status,
            },
        )
        order = apply_payment_intent(order.pk, pi, cause=ATTACH_CAUSE)
        if refunded:
            order = record_refund(
                order.pk,
                payment_intent_id=pi.id,
                refunded_total=refunded,
                refund_id="",
                cause=ATTACH_CAUSE,
            )
        _resolve(event, event.Resolution.ATTACHED, actor=actor, reason=reason, order=order)
    logger.info(
        "unmatched stripe event attached",
        extra={"order_id": order.pk, "payment_intent": pi.id, "unmatched_id": event.pk},
    )
    return event, Order.objects.get(pk=order.pk)


def dismiss_unmatched_event(*, event_id: int, actor, reason: str) -> UnmatchedPaymentEvent:
    """Mark an unmatched event as looked at and needing nothing more, with the reason why."""
    reason = require_reason(reason, kept="it is kept with the event")
    with transaction.atomic():
        event = UnmatchedPaymentEvent.objects.select_for_update().get(pk=event_id)
        if event.resolved:
            if event.resolution == event.Resolution.DISMISSED and event.resolution_reason == reason:
                return event  # the same submission again
            raise _already_resolved(event)
        _resolve(event, event.Resolution.DISMISSED, actor=actor, reason=reason)
    logger.info("unmatched stripe event dismissed", extra={"unmatched_id": event.pk})
    return event
