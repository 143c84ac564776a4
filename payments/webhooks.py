"""Stripe webhooks, received and verified by dj-stripe, applied to orders.

``VerifiedWebhookView`` refuses, before anything is stored, a body over
``WEBHOOK_MAX_BODY_BYTES`` (413) and a request whose signature does not verify against the
endpoint's secret (400): dj-stripe itself saves every request, body included, before it
checks the signature. dj-stripe then verifies it again, stores the event once (a duplicate
delivery is a no-op) and sends a signal inside its transaction; these receivers map the
event onto the same ``apply_payment_intent`` that checkout and the reconciler use. They make
no Stripe calls and send nothing themselves: effects go to the outbox and leave after the
commit.
"""

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from djstripe import event_handlers as djstripe_event_handlers
from djstripe.models import Event, WebhookEndpoint
from djstripe.signals import WEBHOOK_SIGNALS
from djstripe.views import ProcessWebhookView

from orders import clock
from orders.models import Order, OrderEvent, UnmatchedPaymentEvent
from orders.payment.apply import apply_payment_intent, record_refund
from stripe_gateway import PaymentIntentSnapshot, budget, signature_is_valid

logger = logging.getLogger(__name__)

PAYMENT_INTENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.processing",
)
REFUND_EVENTS = ("charge.refunded",)


def _find_order_id(*, metadata: dict, payment_intent_id: str) -> int | None:
    if metadata.get("shop") == settings.STRIPE_METADATA_TAG:
        try:
            order_id = int(metadata.get("order_id", ""))
        except ValueError:
            order_id = None
        if order_id is not None and Order.objects.filter(pk=order_id).exists():
            return order_id
    return (
        Order.objects.filter(payment_intent_id=payment_intent_id)
        .values_list("pk", flat=True)
        .first()
    )


def _record_unmatched(*, event_id: str, event_type: str, stripe_id: str, data: dict) -> None:
    UnmatchedPaymentEvent.objects.get_or_create(
        source="webhook",
        stripe_id=event_id,
        defaults={
            "received_at": clock.now(),
            "event_type": event_type,
            "details": {"object_id": stripe_id, "metadata": data.get("metadata") or {}},
        },
    )
    logger.warning(
        "webhook for unknown order", extra={"event_id": event_id, "stripe_id": stripe_id}
    )


def handle_payment_intent_event(*, event_id: str, event_type: str, data: dict) -> None:
    """Apply a PaymentIntent event to its order, or keep it for staff if no order matches."""
    try:
        pi = PaymentIntentSnapshot.from_stripe(data)
    except (KeyError, TypeError, ValueError):
        _record_unmatched(event_id=event_id, event_type=event_type, stripe_id="?", data={})
        return
    order_id = _find_order_id(metadata=pi.metadata, payment_intent_id=pi.id)
    if order_id is None:
        _record_unmatched(event_id=event_id, event_type=event_type, stripe_id=pi.id, data=data)
        return
    apply_payment_intent(
        order_id, pi, cause=f"webhook:{event_type}", event_kind=OrderEvent.Kind.WEBHOOK
    )


def handle_charge_refunded_event(*, event_id: str, event_type: str, data: dict) -> None:
    """Book refunds made outside the shop (the Stripe dashboard) on the order."""
    payment_intent_id = data.get("payment_intent") or ""
    order_id = _find_order_id(metadata={}, payment_intent_id=payment_intent_id)
    if order_id is None:
        _record_unmatched(
            event_id=event_id, event_type=event_type, stripe_id=payment_intent_id, data=data
        )
        return
    record_refund(
        order_id,
        payment_intent_id=payment_intent_id,
        refunded_total=int(data.get("amount_refunded") or 0),
        refund_id=event_id,
        cause=f"webhook:{event_type}",
    )


def _on_payment_intent_event(sender, event, **kwargs):
    handle_payment_intent_event(
        event_id=event.id, event_type=event.type, data=event.data.get("object") or {}
    )


def _on_charge_refunded(sender, event, **kwargs):
    handle_charge_refunded_event(
        event_id=event.id, event_type=event.type, data=event.data.get("object") or {}
    )


for _name in PAYMENT_INTENT_EVENTS:
    WEBHOOK_SIGNALS[_name].connect(_on_payment_intent_event, dispatch_uid=f"shop:{_name}")
    # dj-stripe's own handler reads each PaymentIntent back from Stripe (a round trip per
    # event, and a 500 rolling back our apply whenever that read fails) only to mirror it in
    # a table the shop never reads; the signed event is what we apply (half the time without).
    WEBHOOK_SIGNALS[_name].disconnect(djstripe_event_handlers.handle_other_event, sender=Event)
for _name in REFUND_EVENTS:
    WEBHOOK_SIGNALS[_name].connect(_on_charge_refunded, dispatch_uid=f"shop:{_name}")
    # dj-stripe's charge handler reads the charge, its PaymentIntent and its PaymentMethod
    # back from Stripe inside this transaction: any failure there (a 429, a timeout) answered
    # 500 and rolled back our refund booking. The signed event carries the running total.
    WEBHOOK_SIGNALS[_name].disconnect(djstripe_event_handlers.handle_charge_event, sender=Event)


# What dj-stripe logs, as errors and one with a full traceback, for a delivery it refuses
# (a forged or stale signature, no signature, a body that is not an event). A refusal is the
# endpoint doing its job: ``VerifiedWebhookView`` logs it as one warning line instead.
DJSTRIPE_REFUSAL_MESSAGES = {
    "djstripe.models.base": {"Failed to verify header"},
    "djstripe.views": {"HTTP_STRIPE_SIGNATURE is missing", "Trigger object did not validate"},
}


class DropDjstripeRefusals(logging.Filter):
    """Drop dj-stripe's own lines about a refused delivery (ours says it once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in DJSTRIPE_REFUSAL_MESSAGES.get(record.name, ())


_drop_refusals = DropDjstripeRefusals()
for _logger_name in DJSTRIPE_REFUSAL_MESSAGES:
    logging.getLogger(_logger_name).addFilter(_drop_refusals)


class VerifiedWebhookView(ProcessWebhookView):
    """dj-stripe's endpoint, storing only what Stripe signed, and never a body over the limit.

    Also refuses dj-stripe's DEBUG-only override of the signing secret by header. A refused
    delivery is logged here as one warning line with its reason, without a traceback (and
    Django's own "Bad Request" line for it is skipped).
    """

    def post(self, request, uuid):
        response, reason = self._refusal(request, uuid)
        if response is None:
            with budget.work_class(budget.WEBHOOK):
                response = super().post(request, uuid)
            reason = "signature or body did not verify"
        if response.status_code in (400, 413):
            logger.warning(
                "webhook refused",
                extra={
                    "endpoint": str(uuid),
                    "reason": reason,
                    "content_length": request.META.get("CONTENT_LENGTH", ""),
                    "remote_addr": request.META.get("REMOTE_ADDR", ""),
                },
            )
            response._has_been_logged = True  # Django's log_response: this one is logged
        return response

    @staticmethod
    def _refusal(request, uuid) -> tuple[HttpResponse | None, str]:
        """A response refusing the delivery before dj-stripe stores anything, and why."""
        if "x-djstripe-webhook-secret" in request.headers:
            return HttpResponseBadRequest(
                "secret override header refused"
            ), "secret override header"
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponseBadRequest("bad Content-Length"), "bad Content-Length"
        if length > settings.WEBHOOK_MAX_BODY_BYTES:
            # Refused before the body is read: nothing of it is kept anywhere.
            too_large = HttpResponse(
                "webhook body too large", status=413, content_type="text/plain"
            )
            return too_large, "body too large"
        signature = request.headers.get("stripe-signature", "")
        if not signature:
            return HttpResponseBadRequest("Stripe-Signature header missing"), "no signature"
        endpoint = get_object_or_404(WebhookEndpoint, djstripe_uuid=uuid)
        try:
            payload = request.body.decode(request.encoding or "utf-8")
        except UnicodeDecodeError:
            payload = ""
        if not signature_is_valid(
            payload=payload,
            header=signature,
            secret=endpoint.secret,
            tolerance=endpoint.djstripe_tolerance,
        ):
            # Nothing stored: anyone can post junk to this URL.
            return HttpResponseBadRequest("signature refused"), "signature or body did not verify"
        return None, ""
