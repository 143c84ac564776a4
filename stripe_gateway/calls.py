"""One function per Stripe call: plain snapshots out, the gateway's domain errors raised.

Only parameters that both real Stripe and the localstripe stand-in accept are sent.
"""

import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import stripe
from django.conf import settings

from stripe_gateway import budget
from stripe_gateway.client import client
from stripe_gateway.errors import (
    KeyConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RequestRejected,
    TryLater,
)
from stripe_gateway.snapshots import PaymentIntentSnapshot, RefundSnapshot, Shipping

logger = logging.getLogger(__name__)


def _header(exc: stripe.StripeError, name: str) -> str:
    return {k.lower(): v for k, v in (exc.headers or {}).items()}.get(name, "")


def _translate(exc: stripe.StripeError, *, keyed: bool) -> Exception:
    """Turn an SDK error into one of the domain errors (see ``stripe_gateway.errors``)."""
    if isinstance(exc, stripe.CardError):
        # The issuer's reason (``insufficient_funds``...) when Stripe gives one.
        decline_code = getattr(exc.error, "decline_code", None) if exc.error else None
        return PaymentDeclined(
            code=decline_code or exc.code or "card_declined", message=exc.user_message or ""
        )
    message = f"{type(exc).__name__}: {exc.user_message or exc}"
    if isinstance(exc, stripe.IdempotencyError):
        return KeyConflict(message)
    rejected = stripe.InvalidRequestError | stripe.AuthenticationError | stripe.PermissionError
    if isinstance(exc, rejected):
        return RequestRejected(
            str(exc.user_message or exc), http_status=exc.http_status, code=exc.code or ""
        )
    if isinstance(exc, stripe.RateLimitError) or exc.http_status == 409:
        return TryLater(message)
    if keyed and isinstance(exc, stripe.APIError) and (exc.http_status or 0) >= 500:
        # Stripe began the request and saved this answer under its key: a retry with the
        # same key gets the same answer back (``Idempotent-Replayed: true``), and Stripe says
        # so with ``Stripe-Should-Retry: false`` (or says nothing). Only ``true`` tells that
        # nothing was saved (the endpoint never began): then the same key runs the request.
        replayed = _header(exc, "idempotent-replayed") == "true"
        should_retry = _header(exc, "stripe-should-retry") == "true"
        return OutcomeUnknown(message, key_spent=not should_retry, replayed=replayed)
    # APIConnectionError (timeouts included) and anything else: the truth is unknown, and the
    # same key is the right one to send again.
    return OutcomeUnknown(message)


def _call(name: str, fn, *, idempotency_key: str = "", **log_extra):
    """Make one request: a token from the account's shared budget first (``budget``), then
    the request (the SDK itself never retries, see ``client``), its errors translated."""
    budget.acquire(endpoint=name)  # raises TryLater, nothing sent, when no token comes in time
    try:
        return fn()
    except stripe.StripeError as exc:
        if exc.http_status == 429:
            # Everyone sharing the budget slows down, not just this caller.
            budget.note_rate_limited(code=exc.code or "", retry_after=_header(exc, "retry-after"))
        error = _translate(exc, keyed=bool(idempotency_key))
        logger.warning(
            "stripe call failed",
            extra={
                "stripe_call": name,
                "error": str(error),
                "idempotency_key": idempotency_key,
                **log_extra,
            },
        )
        raise error from exc


def create_payment_intent(
    *,
    amount: int,
    currency: str,
    payment_method_id: str,
    order_id: int,
    order_reference: str,
    idempotency_key: str,
    shipping: Shipping | None = None,
) -> PaymentIntentSnapshot:
    """Create an unconfirmed PaymentIntent carrying the order in its metadata.

    ``shipping`` (name and address of the delivery) is sent when the order has one: Stripe
    shows it on the payment and uses it in its fraud checks.
    """
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method_id,
        "payment_method_types": ["card"],
        "metadata": {
            "order_id": str(order_id),
            "order_reference": order_reference,
            "shop": settings.STRIPE_METADATA_TAG,
        },
    }
    if shipping is not None:
        params["shipping"] = shipping.as_params()
    pi = _call(
        "payment_intents.create",
        lambda: client().v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key}
        ),
        order_id=order_id,
        idempotency_key=idempotency_key,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def confirm_payment_intent(
    *, payment_intent_id: str, idempotency_key: str
) -> PaymentIntentSnapshot:
    """Confirm a PaymentIntent: this is the call that can move money."""
    pi = _call(
        "payment_intents.confirm",
        lambda: client().v1.payment_intents.confirm(
            payment_intent_id, options={"idempotency_key": idempotency_key}
        ),
        payment_intent_id=payment_intent_id,
        idempotency_key=idempotency_key,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def retrieve_payment_intent(payment_intent_id: str) -> PaymentIntentSnapshot:
    pi = _call(
        "payment_intents.retrieve",
        lambda: client().v1.payment_intents.retrieve(payment_intent_id),
        payment_intent_id=payment_intent_id,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def cancel_payment_intent(*, payment_intent_id: str, idempotency_key: str) -> PaymentIntentSnapshot:
    pi = _call(
        "payment_intents.cancel",
        lambda: client().v1.payment_intents.cancel(
            payment_intent_id, options={"idempotency_key": idempotency_key}
        ),
        payment_intent_id=payment_intent_id,
        idempotency_key=idempotency_key,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


class PaymentIntentPage(NamedTuple):
    items: list[PaymentIntentSnapshot]
    cursor: str | None  # the last id Stripe listed on this page
    last: bool = True  # no page follows it


def payment_intent_pages(
    *,
    created_gte: int | None = None,
    created_lte: int | None = None,
    with_charge: bool = False,
    starting_after: str | None = None,
    page_size: int = 100,
) -> Iterator[PaymentIntentPage]:
    """Yield PaymentIntents a page (one request) at a time, newest first, as Stripe lists them.

    Each page's ``cursor`` is the ``starting_after`` that continues after it (a caller that
    stopped, or was rate-limited, carries on from there).

    ``created_gte``/``created_lte`` (Unix seconds, inclusive) bound the window; they are sent
    as ``created[gte]``/``created[lte]`` and applied here too, in case a stand-in ignores them.
    ``with_charge`` expands each one's latest charge (``expand[]=data.latest_charge``), which
    carries ``amount_refunded``: the snapshot's ``refunded`` then needs no refunds call.
    """
    sdk = client()
    created = {
        op: value for op, value in (("gte", created_gte), ("lte", created_lte)) if value is not None
    }
    while True:
        params: dict[str, Any] = {"limit": min(max(page_size, 1), 100)}
        if created:
            params["created"] = created
        if with_charge:
            params["expand"] = ["data.latest_charge"]
        if starting_after:
            params["starting_after"] = starting_after
        body = _call(
            "payment_intents.list", lambda p=params: sdk.v1.payment_intents.list(params=p)
        ).to_dict()
        data = body["data"]
        page = [PaymentIntentSnapshot.from_stripe(item) for item in data]
        inside = [
            pi
            for pi in page
            if (created_gte is None or pi.created >= created_gte)
            and (created_lte is None or pi.created <= created_lte)
        ]
        older = created_gte is not None and page and all(pi.created < created_gte for pi in page)
        last = not data or not body.get("has_more") or bool(older)
        yield PaymentIntentPage(inside, data[-1]["id"] if data else starting_after, last)
        if last:
            return
        starting_after = data[-1]["id"]


def list_payment_intents(
    *,
    page_size: int = 100,
    max_items: int = 10_000,
    created_gte: int | None = None,
    created_lte: int | None = None,
    with_charge: bool = False,
) -> Iterator[PaymentIntentSnapshot]:
    """Yield PaymentIntents page by page (at most ``max_items``), newest first."""
    seen = 0
    for page in payment_intent_pages(
        created_gte=created_gte,
        created_lte=created_lte,
        with_charge=with_charge,
        page_size=page_size,
    ):
        for pi in page.items:
            if seen >= max_items:
                return
            seen += 1
            yield pi
        if seen >= max_items:
            return


def list_refunds(payment_intent_id: str) -> list[RefundSnapshot]:
    page = _call(
        "refunds.list",
        lambda: client().v1.refunds.list(
            params={"payment_intent": payment_intent_id, "limit": 100}
        ),
        payment_intent_id=payment_intent_id,
    )
    data = page.to_dict()["data"]
    return [RefundSnapshot.from_stripe(r, payment_intent_id) for r in data]


def create_refund(
    *, payment_intent_id: str, amount: int, idempotency_key: str, metadata: dict[str, str]
) -> RefundSnapshot:
    refund = _call(
        "refunds.create",
        lambda: client().v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
            options={"idempotency_key": idempotency_key},
        ),
        payment_intent_id=payment_intent_id,
        idempotency_key=idempotency_key,
    )
    return RefundSnapshot.from_stripe(refund, payment_intent_id)
