"""Forms for the customer's cart changes: they parse and bound input, they never carry prices."""

from django import forms
from django.conf import settings

from catalog.models import Product

# Anything above this cannot be a primary key (PostgreSQL bigint) nor a sane quantity.
_BIGINT_MAX = 2**63 - 1


class CartChangeForm(forms.Form):
    """A product and a quantity from the customer: both checked before the cart is touched."""

    product_id = forms.IntegerField(
        min_value=1,
        max_value=_BIGINT_MAX,
        error_messages={
            "invalid": "That product does not exist.",
            "min_value": "That product does not exist.",
            "max_value": "That product does not exist.",
            "required": "Please choose a product.",
        },
    )
    quantity = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        error_messages={
            "invalid": "Please enter a whole number for the quantity.",
            "min_value": "Quantity cannot be negative.",
            "max_value": "That quantity is far more than we could ever ship.",
            "required": "Please enter a quantity.",
        },
    )

    def __init__(self, *args, require_quantity: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["quantity"].required = require_quantity

    def clean_product_id(self) -> int:
        # The ``product`` attribute is set here so that the view gets the row itself;
        # an unknown id is an error like any other, never a 500 nor a silent no-op.
        product_id = self.cleaned_data["product_id"]
        self.product = Product.objects.filter(pk=product_id).first()
        if self.product is None:
            raise forms.ValidationError("That product does not exist.")
        return product_id

    def clean_quantity(self):
        quantity = self.cleaned_data["quantity"]
        if quantity is not None and quantity > settings.CART_MAX_QUANTITY:
            raise forms.ValidationError(
                f"You can order at most {settings.CART_MAX_QUANTITY} of one item."
            )
        return quantity

    def first_error(self) -> str:
        """The message to show: the product's problem first, then the quantity's."""
        for field in ("product_id", "quantity"):
            if field in self.errors:
                return self.errors[field][0]
        return "Your cart could not be changed."


class ContactForm(forms.Form):
    """A customer's message to the shop; ``website`` is a honeypot that people never see."""

    name = forms.CharField(
        max_length=100,
        error_messages={
            "required": "Please tell us your name.",
            "max_length": "Please keep your name under 100 characters.",
        },
    )
    email = forms.EmailField(
        label="Email address",
        help_text="We answer to this address.",
        error_messages={
            "required": "Please give your email address so that we can answer.",
            "invalid": "Please enter a valid email address, like name@example.com.",
        },
    )
    message = forms.CharField(
        min_length=10,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="If it is about an order, please quote its reference (ORD-…).",
        error_messages={
            "required": "Please write your message.",
            "min_length": "Please write a little more (at least 10 characters).",
            "max_length": "Please keep your message under 5000 characters.",
        },
    )
    # Hidden from people (off-screen, out of the tab order); bots fill every field.
    website = forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if "\n" in name or "\r" in name:
            raise forms.ValidationError("Please give your name on one line.")
        return name

    def clean_message(self) -> str:
        return self.cleaned_data["message"].strip()

    @property
    def is_spam(self) -> bool:
        """The honeypot was filled in: a bot, to be thanked and ignored."""
        return bool(self.cleaned_data.get("website"))
