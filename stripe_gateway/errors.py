"""The gateway's domain errors: every SDK error becomes one of these at the boundary.

- ``PaymentDeclined``: Stripe definitely refused the payment (nothing was charged).
- ``OutcomeUnknown``: timeout, connection error, 5xx: the request may or may not have taken
  effect. Never treat it as a failure. Its ``key_spent`` says whether retrying the same
  idempotency key can ever move the request forward.
  - ``TryLater``: Stripe did nothing and asks to be asked again (429 rate limit or lock
    timeout, 409 while a request with the same key is still running).
  - ``KeyConflict``: Stripe did nothing because the key was already used with other
    parameters; that key will never work for this request.
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
    """The call may or may not have taken effect at Stripe (timeout, 5xx, lost reply).

    ``key_spent``: Stripe answered this idempotency key with a server error, which it saves
    and replays on every retry with the same key (``replayed`` when this answer already was
    such a replay); not when Stripe said ``Stripe-Should-Retry: true`` (nothing was saved).
    Only a new key can move a spent request forward; callers may use one where the request
    is pinned to one object (confirming or cancelling the one PaymentIntent an order names,
    creating a PaymentIntent that is never confirmed unless recorded).
    """

    def __init__(self, message: str, *, key_spent: bool = False, replayed: bool = False):
        super().__init__(message)
        self.key_spent = key_spent
        self.replayed = replayed


class TryLater(OutcomeUnknown):
    """Stripe did nothing with this request; the same key may be sent again later.

    A 429 (rate limit, or ``lock_timeout`` on a busy object) comes before Stripe's
    idempotency layer and is never saved; a 409 means a request with the same key is still
    running.
    """


class KeyConflict(OutcomeUnknown):
    """Stripe did nothing: this idempotency key was first used with other parameters.

    A definite answer, not an unknown outcome; it is an ``OutcomeUnknown`` with
    ``key_spent`` so that every caller backs off and moves to a new key.
    """

    def __init__(self, message: str):
        super().__init__(message, key_spent=True)


class RequestRejected(GatewayError):
    """Stripe refused the request and did nothing (a 4xx other than a decline)."""

    def __init__(self, message: str, *, http_status: int | None = None, code: str = ""):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
