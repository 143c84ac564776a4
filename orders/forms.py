"""The checkout form: what the browser posts, validated; card numbers never reach us."""

import re

from django import forms

from orders import pricing

# Stripe.js gives the browser a PaymentMethod id; card numbers never reach this server.
PAYMENT_METHOD_RE = re.compile(r"pm_[A-Za-z0-9_]{1,200}")
CHECKOUT_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
POSTAL_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{1,11}")
# Letters of any script, spaces and the punctuation of names and addresses; no control
# characters, no markup.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f<>]")

# The delivery fields the session keeps, so that a returning tab finds what was typed.
REMEMBERED_FIELDS = (
    "email",
    "full_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "country",
    "shipping_method",
)


def _text(label: str, *, max_length: int, required: bool = True, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        error_messages={
            "required": f"Please enter your {label.lower()}.",
            "max_length": f"Your {label.lower()} is too long (at most {max_length} characters).",
        },
        **kwargs,
    )


class CheckoutForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address, like name@example.com.",
            "max_length": "That email address is too long.",
        },
    )
    full_name = _text("Full name", max_length=200)
    address_line1 = _text("Address", max_length=200)
    address_line2 = _text("Address line 2", max_length=200, required=False)
    city = _text("City", max_length=100)
    postal_code = _text("Postal code", max_length=12)
    country = forms.ChoiceField(
        error_messages={
            "required": "Please choose the country we deliver to.",
            "invalid_choice": "Sorry, we do not deliver to that country.",
        },
    )
    shipping_method = forms.TypedChoiceField(
        coerce=int,
        error_messages={
            "required": "Please choose a delivery method.",
            "invalid_choice": "That delivery method is no longer offered; please choose another.",
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
    # The total the page showed (minor units), when it showed one; compared, never charged.
    shown_total = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read when the form is made, never at import: the owner edits the rates in the admin.
        self.methods = pricing.all_methods()
        countries = pricing.shipping_countries(self.methods)
        self.fields["country"].choices = [("", "Choose a country…"), *countries]
        if len(countries) == 1 and not self.is_bound and not self.initial.get("country"):
            self.initial["country"] = countries[0][0]  # a shop that ships to one country
        self.fields["shipping_method"].choices = [(m.pk, m.name) for m in self.methods]

    def _clean_text(self, name: str) -> str:
        value = self.cleaned_data[name]
        if CONTROL_RE.search(value):
            raise forms.ValidationError("Please use only letters, digits and punctuation here.")
        return value

    def clean_full_name(self):
        value = self._clean_text("full_name")
        if len(value) < 2:
            raise forms.ValidationError("Please enter your full name, as on your door.")
        return value

    def clean_address_line1(self):
        return self._clean_text("address_line1")

    def clean_address_line2(self):
        return self._clean_text("address_line2")

    def clean_city(self):
        return self._clean_text("city")

    def clean_postal_code(self):
        value = " ".join(self.cleaned_data["postal_code"].split()).upper()
        if not POSTAL_CODE_RE.fullmatch(value):
            raise forms.ValidationError(
                "Please enter a valid postal code (letters, digits, spaces or hyphens)."
            )
        return value

    def clean(self):
        cleaned = super().clean()
        country, method_id = cleaned.get("country"), cleaned.get("shipping_method")
        if country and method_id is not None:
            served = {m.pk for m in self.methods if country in m.zone.country_codes}
            if method_id not in served:
                self.add_error(
                    "shipping_method",
                    "This delivery method does not deliver to the country you chose; "
                    "please choose one of those listed for it.",
                )
        return cleaned

    def remembered(self) -> dict[str, str]:
        """What the customer typed in the delivery fields (never the card or the token)."""
        return {
            name: value
            for name in REMEMBERED_FIELDS
            if isinstance(value := self.data.get(name, ""), str) and len(value) <= 300
        }

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
