"""Say what went wrong at Stripe in words a support agent can act on.

The gateway's errors carry the SDK's own text ("... let us know at support@stripe.com ...",
"HTTPConnectionPool(...)"), which is for developers: shown at the top of a page it invites
agents to email Stripe. Staff see the sentence from here; the raw text is kept as the
technical detail, shown folded away (``<details>``) under it.
"""

from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString

from stripe_gateway import (
    GatewayError,
    KeyConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RequestRejected,
    TryLater,
)

NO_ANSWER = (
    "Stripe did not answer in time. Nothing was changed here and nothing more can be charged."
)
BUSY = "Stripe was busy and asked us to try again later. Nothing was changed."
KEY_REFUSED = "Stripe refused a repeated request as a duplicate. Nothing was changed."
STRIPE_FAILED = (
    "Stripe had a problem of its own while handling the request. Nothing more can be charged."
)
REJECTED = (
    "Stripe refused the request and did nothing (it may not know this payment). "
    "Check the payment in the Stripe dashboard, or ask a developer."
)
REFUND_IMPOSSIBLE = (
    "Stripe shows nothing (or not enough) left to refund on this payment: it may have been "
    "refunded already, e.g. in the Stripe dashboard. Check it there before retrying."
)
DECLINED = "The card was declined: nothing was charged."
UNKNOWN = "The last attempt did not finish. Nothing more can be charged."
DATABASE = "Our own database failed during the last attempt. Nothing more can be charged."
IN_PROGRESS = (
    "Stripe answered: the payment is still in progress (for example waiting for the "
    "customer's card authentication)."
)

RETRYING = "The shop retries automatically."
GAVE_UP = "The shop has stopped retrying it."
# Sentences after which an automatic retry changes nothing: a person must look.
_NEEDS_A_PERSON = {REJECTED, DECLINED, REFUND_IMPOSSIBLE}


def _with_tail(plain: str, retrying: bool) -> str:
    if plain in _NEEDS_A_PERSON:
        return plain
    return f"{plain} {RETRYING if retrying else GAVE_UP}"


@dataclass(frozen=True)
class Explained:
    """A sentence for staff, and the technical text behind it (may be empty)."""

    plain: str
    detail: str = ""

    def html(self, *, before: str = "", after: str = "") -> SafeString:
        """``before`` + the sentence + ``after``, with the detail folded away under them."""
        text = " ".join(part for part in (before, self.plain, after) if part)
        if not self.detail:
            return format_html("{}", text)
        return format_html(
            '{} <details class="technical-detail"><summary>Technical detail</summary>'
            "<code>{}</code></details>",
            text,
            self.detail,
        )


def explain_error(exc: GatewayError | Exception, *, retrying: bool = True) -> Explained:
    """The sentence for one of the gateway's errors (or a network failure).

    ``retrying``: whether something will try again by itself (the reconciler, the outbox).
    """
    plain = _plain_for_error(exc)
    return Explained(_with_tail(plain, retrying), f"{type(exc).__name__}: {exc}")


def _plain_for_error(exc: Exception) -> str:
    if isinstance(exc, TryLater):
        return BUSY
    if isinstance(exc, KeyConflict):
        return KEY_REFUSED
    if isinstance(exc, OutcomeUnknown):
        return STRIPE_FAILED if exc.key_spent else NO_ANSWER
    if isinstance(exc, PaymentDeclined):
        return DECLINED
    if isinstance(exc, RequestRejected):
        return REJECTED
    if isinstance(exc, OSError):
        return NO_ANSWER
    return UNKNOWN


# What stored error texts (``Order.last_error``, ``OutboxMessage.last_error``) start or contain,
# most specific first: they were written from the errors above by the driver and the outbox.
_TEXT_MARKERS = (
    (("nothing to refund", "would exceed what is left"), REFUND_IMPOSSIBLE),
    (("TryLater", "RateLimitError", "lock_timeout", "rate_limit"), BUSY),
    (("KeyConflict", "IdempotencyError"), KEY_REFUSED),
    (("RequestRejected", "InvalidRequestError", "AuthenticationError"), REJECTED),
    (("PaymentDeclined", "CardError"), DECLINED),
    (("APIConnectionError", "timed out", "Timeout", "HTTPConnectionPool", "Connection"), NO_ANSWER),
    (("APIError", "api_error"), STRIPE_FAILED),
)


def explain_text(text: str, *, retrying: bool = True) -> Explained:
    """The sentence for an error as stored on a row; the stored text becomes the detail."""
    text = (text or "").strip()
    if not text:
        return Explained("")
    return Explained(_with_tail(_plain_for_text(text), retrying), text)


def _plain_for_text(text: str) -> str:
    if "database error" in text[:40]:
        return DATABASE
    if text.startswith("payment still ") or "cannot cancel yet" in text:
        return IN_PROGRESS
    for markers, plain in _TEXT_MARKERS:
        if any(marker in text for marker in markers):
            return plain
    return UNKNOWN
