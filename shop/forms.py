from django import forms
from django.conf import settings


class QuantityForm(forms.Form):
    """A quantity from the customer: bounded, never trusted for prices."""

    quantity = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        error_messages={
            "invalid": "Please enter a whole number.",
            "min_value": "Quantity cannot be negative.",
            "max_value": "That quantity is far more than we could ever ship.",
            "required": "Please enter a quantity.",
        },
    )

    def clean_quantity(self):
        quantity = self.cleaned_data["quantity"]
        if quantity > settings.CART_MAX_QUANTITY:
            raise forms.ValidationError(
                f"You can order at most {settings.CART_MAX_QUANTITY} of one item."
            )
        return quantity
