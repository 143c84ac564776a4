"""Why a payment failed, in the shop's own words, from Stripe's decline and error codes.

The customer never reads the provider's sentence (it stays in the order's timeline and
``status_reason`` for staff). Codes are Stripe's ``decline_code`` (the card issuer's reason)
or, without one, the error's ``code``: docs.stripe.com/declines/codes and /error-codes.
Lost, stolen and fraud-flagged cards read as a plain decline, as Stripe advises.
"""

GENERIC = (
    "Your bank declined the payment. Nothing was charged. Please try another card, "
    "or ask your bank why the payment was refused."
)
TRY_LATER = (
    "Your bank could not process the payment just now. Nothing was charged. "
    "Please try again in a moment."
)
AUTHENTICATION = (
    "The payment was not confirmed with your bank (the security check was failed, cancelled "
    "or not finished). Nothing was charged. Please try again and complete your bank's check."
)
CARD_DETAILS = "Your card details were not accepted. Nothing was charged. Please enter them again."

WORDING = {
    "insufficient_funds": (
        "Your card has insufficient funds for this payment. Nothing was charged. "
        "Please use another card."
    ),
    "expired_card": "Your card has expired. Nothing was charged. Please use another card.",
    "incorrect_cvc": (
        "The security code (CVC) does not match your card. Nothing was charged. "
        "Please check the three digits on the back of your card and try again."
    ),
    "invalid_cvc": (
        "The security code (CVC) does not match your card. Nothing was charged. "
        "Please check the three digits on the back of your card and try again."
    ),
    "incorrect_number": "The card number is not right. Nothing was charged. Please check it.",
    "invalid_number": "The card number is not right. Nothing was charged. Please check it.",
    "invalid_expiry_month": "The expiry date is not right. Nothing was charged. Please check it.",
    "invalid_expiry_year": "The expiry date is not right. Nothing was charged. Please check it.",
    "incorrect_zip": (
        "The postal code does not match your card's billing address. Nothing was charged. "
        "Please check it."
    ),
    "card_velocity_exceeded": (
        "Your card has reached its spending limit. Nothing was charged. "
        "Please use another card or contact your bank."
    ),
    "withdrawal_count_limit_exceeded": (
        "Your card has reached its spending limit. Nothing was charged. "
        "Please use another card or contact your bank."
    ),
    "card_not_supported": (
        "Your card does not support this kind of payment. Nothing was charged. "
        "Please use another card."
    ),
    "currency_not_supported": (
        "Your card cannot pay in this currency. Nothing was charged. Please use another card."
    ),
    "processing_error": TRY_LATER,
    "issuer_not_available": TRY_LATER,
    "try_again_later": TRY_LATER,
    "reenter_transaction": TRY_LATER,
    "authentication_required": AUTHENTICATION,
    "payment_intent_authentication_failure": AUTHENTICATION,
    "authentication_not_handled": AUTHENTICATION,
    # Not told apart from a plain decline, on purpose (Stripe: never reveal these).
    "lost_card": GENERIC,
    "stolen_card": GENERIC,
    "pickup_card": GENERIC,
    "fraudulent": GENERIC,
    "merchant_blacklist": GENERIC,
    "generic_decline": GENERIC,
    "card_declined": GENERIC,
    "do_not_honor": GENERIC,
    "transaction_not_allowed": GENERIC,
}


def customer_wording(code: str) -> str:
    """What to tell the customer about a failed payment with this Stripe code."""
    return WORDING.get((code or "").strip(), GENERIC)
