class GatewayError(Exception):
    """A Stripe call did not return a PaymentIntent."""


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
