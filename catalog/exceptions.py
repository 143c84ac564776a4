"""The catalog's errors; their messages are safe to show the customer."""


class CartError(Exception):
    """A cart change was refused; the message is safe to show the customer."""
