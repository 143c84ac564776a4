class CartError(Exception):
    """A cart change was refused; the message is safe to show the customer."""
