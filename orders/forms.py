"""The checkout form: what the browser posts, validated; card numbers never reach us."""

import re

from django import forms

# Stripe.js gives the browser a PaymentMethod id; card numbers never reach this server.
PAYMENT_METHOD_RE = re.compile(r"pm_[A-Za-z0-9_]{1,200}")
CHECKOUT_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")


class CheckoutForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address, like name@example.com.",
            "max_length": "That email address is too long.",
        },
    )
    payment_method_id = forms.CharField(
        max_length=255,
        widget=forms.HiddenInput,
        error_messages={"required": "Please enter your card details."},
    )
    checkout_token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    # What the page showed (Cart.signature); compared with the cart at submission, never priced.
    cart_signature = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)

    def clean_payment_method_id(self):
        value = self.cleaned_data["payment_method_id"]
        if not PAYMENT_METHOD_RE.fullmatch(value):
            raise forms.ValidationError(
                "Your card details could not be read; please enter them again."
            )
        return value

    def clean_checkout_token(self):
        value = self.cleaned_data["checkout_token"]
        if not CHECKOUT_TOKEN_RE.fullmatch(value):
            raise forms.ValidationError("This checkout form has expired; please try again.")
        return value

    def checkout_token_or_none(self) -> str | None:
        """The submitted one-time token if it is well formed, whatever the other fields say."""
        value = self.data.get("checkout_token", "")
        return value if isinstance(value, str) and CHECKOUT_TOKEN_RE.fullmatch(value) else None
