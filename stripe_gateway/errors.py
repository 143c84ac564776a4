"""The gateway's domain errors: every SDK error becomes one of these at the boundary.

- ``PaymentDeclined``: Stripe definitely refused the payment (nothing was charged).
- ``OutcomeUnknown``: timeout, connection error, 5xx, rate limit, idempotency conflict:
  the request may or may not have taken effect. Never treat it as a failure.
- ``RequestRejected``: Stripe definitely did nothing (a 4xx other than a decline).
"""


class GatewayError(Exception):
    """A Stripe call did not return what was asked for."""


class PaymentDeclined(GatewayError):
    """Stripe definitely declined the payment; nothing was charged."""

    def __init__(self, *, code: str, message: str):
        super().__init__(message or code)
        self.code = code
        self.message = message


class OutcomeUnknown(GatewayError):
    """The call may or may not have taken effect at Stripe (timeout, 5xx, lost reply)."""


class RequestRejected(GatewayError):
    """Stripe refused the request and did nothing (a 4xx other than a decline)."""

    def __init__(self, message: str, *, http_status: int | None = None, code: str = ""):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
