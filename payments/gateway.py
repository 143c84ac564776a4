"""The Stripe gateway: the only module that imports ``stripe``.

One function per Stripe call, each returning plain snapshots and raising one of three
domain errors, so that callers never have to know the SDK:

- ``PaymentDeclined``: Stripe definitely refused the payment (nothing was charged).
- ``OutcomeUnknown``: timeout, connection error, 5xx, rate limit, idempotency conflict:
  the request may or may not have taken effect. Never treat it as a failure.
- ``RequestRejected``: Stripe definitely did nothing (4xx other than a decline).

Only parameters that both real Stripe and the localstripe stand-in accept are sent.
"""

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import stripe
from django.conf import settings

from payments.exceptions import OutcomeUnknown, PaymentDeclined, RequestRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentIntentSnapshot:
    id: str
    status: str
    amount: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)
    created: int = 0
    client_secret: str = ""
    last_error_code: str = ""
    last_error_message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def declined(self) -> bool:
        """Confirmed and refused: the customer must try again with another card."""
        return self.status == "requires_payment_method" and bool(
            self.last_error_code or self.last_error_message
        )

    @property
    def order_id(self) -> int | None:
        try:
            return int(self.metadata.get("order_id", ""))
        except ValueError:
            return None

    @classmethod
    def from_stripe(cls, data: Any) -> "PaymentIntentSnapshot":
        if hasattr(data, "to_dict"):
            data = data.to_dict()
        error = data.get("last_payment_error") or {}
        return cls(
            id=data["id"],
            status=data["status"],
            amount=int(data["amount"]),
            currency=str(data["currency"]).lower(),
            metadata=dict(data.get("metadata") or {}),
            created=int(data.get("created") or 0),
            client_secret=data.get("client_secret") or "",
            last_error_code=error.get("code") or error.get("decline_code") or "",
            last_error_message=error.get("message") or "",
        )


@dataclass(frozen=True)
class RefundSnapshot:
    id: str
    amount: int
    status: str
    payment_intent_id: str
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_stripe(cls, data: Any, payment_intent_id: str) -> "RefundSnapshot":
        if hasattr(data, "to_dict"):
            data = data.to_dict()
        return cls(
            id=data["id"],
            amount=int(data["amount"]),
            status=data.get("status") or "succeeded",
            payment_intent_id=data.get("payment_intent") or payment_intent_id,
            metadata=dict(data.get("metadata") or {}),
        )


def build_http_client() -> stripe.HTTPClient:
    """Return the HTTP client under the SDK; tests wrap it to inject faults.

    Its ``requests`` session does not consult the environment on every call (proxy
    variables, ``.netrc``): that lookup cost ~0.4 ms of CPU per call, a third of the SDK's
    own. A proxy set in the environment is read once, here, and still used.
    """
    import requests

    session = requests.Session()
    session.trust_env = False
    proxies = requests.utils.get_environ_proxies(settings.STRIPE_API_BASE or "https://api.stripe.com")
    return stripe.RequestsClient(
        timeout=settings.STRIPE_TIMEOUT_SECONDS, session=session, proxy=proxies or None
    )


_local = threading.local()


def _client() -> stripe.StripeClient:
    """One client per thread and configuration, so its connection is reused.

    A new client per call opened a new connection, and with real Stripe a TLS handshake, for
    every call. Per thread, because a ``requests`` session is not thread-safe (the
    reconciler drives orders on several threads). The key includes ``build_http_client``
    so a test that swaps it gets its own.
    """
    key = (
        build_http_client,
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
    )
    if getattr(_local, "key", None) != key:
        base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
        # A settings change (tests) replaces the client: no stale one is left behind.
        _local.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses=base_addresses,
            http_client=build_http_client(),
            # Retries are ours to make (reconciler), with our keys and our backoff.
            max_network_retries=0,
        )
        _local.key = key
    return _local.client


def _translate(exc: stripe.StripeError) -> Exception:
    """Turn an SDK error into one of our three domain errors."""
    if isinstance(exc, stripe.CardError):
        return PaymentDeclined(code=exc.code or "card_declined", message=exc.user_message or "")
    if isinstance(exc, stripe.InvalidRequestError | stripe.AuthenticationError | stripe.PermissionError):
        return RequestRejected(
            str(exc.user_message or exc), http_status=exc.http_status, code=exc.code or ""
        )
    # APIConnectionError (timeouts included), APIError (5xx), RateLimitError,
    # IdempotencyError (a concurrent request with the same key): the truth is unknown.
    return OutcomeUnknown(f"{type(exc).__name__}: {exc.user_message or exc}")


def _call(name: str, fn, **log_extra):
    try:
        return fn()
    except stripe.StripeError as exc:
        error = _translate(exc)
        logger.warning(
            "stripe call failed", extra={"stripe_call": name, "error": str(error), **log_extra}
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
) -> PaymentIntentSnapshot:
    """Create an unconfirmed PaymentIntent carrying the order in its metadata."""
    params = {
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
    pi = _call(
        "payment_intents.create",
        lambda: _client().v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key}
        ),
        order_id=order_id,
        idempotency_key=idempotency_key,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def confirm_payment_intent(*, payment_intent_id: str, idempotency_key: str) -> PaymentIntentSnapshot:
    """Confirm a PaymentIntent: this is the call that can move money."""
    pi = _call(
        "payment_intents.confirm",
        lambda: _client().v1.payment_intents.confirm(
            payment_intent_id, options={"idempotency_key": idempotency_key}
        ),
        payment_intent_id=payment_intent_id,
        idempotency_key=idempotency_key,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def retrieve_payment_intent(payment_intent_id: str) -> PaymentIntentSnapshot:
    pi = _call(
        "payment_intents.retrieve",
        lambda: _client().v1.payment_intents.retrieve(payment_intent_id),
        payment_intent_id=payment_intent_id,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def cancel_payment_intent(*, payment_intent_id: str, idempotency_key: str) -> PaymentIntentSnapshot:
    pi = _call(
        "payment_intents.cancel",
        lambda: _client().v1.payment_intents.cancel(
            payment_intent_id, options={"idempotency_key": idempotency_key}
        ),
        payment_intent_id=payment_intent_id,
        idempotency_key=idempotency_key,
    )
    return PaymentIntentSnapshot.from_stripe(pi)


def list_payment_intents(*, page_size: int = 100, max_items: int = 10_000) -> Iterator[PaymentIntentSnapshot]:
    """Yield PaymentIntents page by page (at most ``max_items``), in Stripe's order."""
    starting_after = None
    seen = 0
    client = _client()
    while seen < max_items:
        params: dict[str, Any] = {"limit": page_size}
        if starting_after:
            params["starting_after"] = starting_after
        body = _call(
            "payment_intents.list", lambda p=params: client.v1.payment_intents.list(params=p)
        ).to_dict()
        data = body["data"]
        for item in data:
            seen += 1
            yield PaymentIntentSnapshot.from_stripe(item)
        if not data or not body.get("has_more"):
            return
        starting_after = data[-1]["id"]


def list_refunds(payment_intent_id: str) -> list[RefundSnapshot]:
    page = _call(
        "refunds.list",
        lambda: _client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100}),
        payment_intent_id=payment_intent_id,
    )
    data = page.to_dict()["data"]
    return [RefundSnapshot.from_stripe(r, payment_intent_id) for r in data]


def create_refund(
    *, payment_intent_id: str, amount: int, idempotency_key: str, metadata: dict[str, str]
) -> RefundSnapshot:
    refund = _call(
        "refunds.create",
        lambda: _client().v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
            options={"idempotency_key": idempotency_key},
        ),
        payment_intent_id=payment_intent_id,
        idempotency_key=idempotency_key,
    )
    return RefundSnapshot.from_stripe(refund, payment_intent_id)
