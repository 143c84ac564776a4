"""Stripe's webhook signature, checked with the SDK's own verifier."""

import stripe


def signature_is_valid(*, payload: str, header: str, secret: str, tolerance: int) -> bool:
    """Whether ``header`` (Stripe-Signature) signs ``payload`` with ``secret``, recently enough.

    ``tolerance``: seconds the signature's timestamp may be old (Stripe's default is 300).
    """
    if not (header and secret):
        return False
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    except stripe.SignatureVerificationError:
        return False
    return True
