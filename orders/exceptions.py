"""The order core's errors; their messages are safe to show."""


class OrderError(Exception):
    """Base class for order errors whose message is safe to show."""


class CheckoutNotStarted(OrderError):
    """The order could not be recorded; nothing was charged."""


class EmptyCart(OrderError):
    """There is nothing to buy."""


class OutOfStock(OrderError):
    """A line asks for more than is left."""


class InvalidTransition(OrderError):
    """The state machine does not allow this move."""


class ActionRefused(OrderError):
    """A staff action is not allowed in the order's current state.

    ``detail``: technical text behind the message (an error from Stripe), shown folded away.
    """

    def __init__(self, message: str = "", *, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class ShippingUnavailable(OrderError):
    """The chosen shipping method does not deliver to the chosen country (or no longer exists)."""
