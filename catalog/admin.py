"""The owner's catalog in the admin: products with their pictures, and categories."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from catalog import stock
from catalog.models import Category, Product, ProductImage
from catalog.templatetags.money import money


def _thumbnail_tag(image: ProductImage | None, size: int = 64):
    if image is None or not image.thumbnail:
        return "—"
    return format_html(
        '<img src="{}" alt="{}" width="{}" height="{}" style="object-fit:cover;border-radius:4px">',
        image.thumbnail.url,
        image.alt_text,
        size,
        size,
    )


class ProductImageFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and (form.cleaned_data.get("image") or form.instance.pk)
        ]
        if sum(1 for form in kept if form.cleaned_data.get("is_main")) > 1:
            raise ValidationError("Choose one main picture only.")


class ProductImageInline(admin.StackedInline):  # stacked: readable on a phone too
    model = ProductImage
    formset = ProductImageFormSet
    extra = 1
    fields = ("preview", "image", "alt_text", "is_main", "position")
    readonly_fields = ("preview",)

    @admin.display(description="preview")
    def preview(self, image: ProductImage):
        return _thumbnail_tag(image if image.pk else None)


class ProductForm(forms.ModelForm):
    """The price typed as people write it (39.90), kept in cents like every amount here."""

    price = forms.DecimalField(
        label="Price",
        min_value=Decimal("0.01"),
        max_digits=9,
        decimal_places=2,
        help_text="Including VAT, e.g. 39.90.",
        error_messages={"max_decimal_places": "Give the price in euros and cents, e.g. 39.90."},
    )

    currency = forms.ChoiceField(
        choices=[("eur", "Euro (€)"), ("usd", "US dollar ($)"), ("gbp", "Pound sterling (£)")],
        help_text="A cart holds products of one currency only.",
    )
    stock = forms.IntegerField(
        min_value=0,
        help_text="Units on hand. Units sold while you edit this page are kept off it.",
        error_messages={"min_value": "Stock cannot be below zero."},
    )
    # The stock shown when the page was drawn: what the typed figure changes (stock.adjust).
    stock_seen = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Product
        fields = ("name", "slug", "category", "description", "price", "currency", "stock")
        fields += ("is_active",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["price"] = Decimal(self.instance.price) / 100
            self.initial["stock_seen"] = self.instance.stock

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "stock" in cleaned and cleaned.get("stock_seen") is None:
            self.add_error(None, "This page is out of date; please reload it and try again.")
        return cleaned

    def clean_price(self) -> int:
        return int(self.cleaned_data["price"] * 100)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = ("picture", "name", "category", "price_display", "stock", "is_active")
    list_display_links = ("picture", "name")
    list_editable = ("is_active",)  # stock only on the product's page (see save_model)
    list_per_page = 50
    list_filter = ("is_active", "category")
    list_select_related = ("category",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "category", "description", "price", "currency", "stock")
    fields += ("stock_seen", "is_active")
    inlines = [ProductImageInline]
    save_on_top = True

    def save_model(self, request, obj, form, change):
        """Save what staff changed; the stock as a change from what they saw, never as is.

        A full save would write back the stock read when the page was drawn, handing out
        again the units that checkouts reserved since (catalog/stock.py).
        """
        if not change:
            super().save_model(request, obj, form, change)
            return
        editable = {field.name for field in obj._meta.concrete_fields} - {"stock"}
        changed = [name for name in form.changed_data if name in editable]
        if changed:
            obj.save(update_fields=changed)
        seen, wanted = form.cleaned_data["stock_seen"], form.cleaned_data["stock"]
        applied = stock.adjust(obj.pk, seen=seen, wanted=wanted)
        obj.refresh_from_db(fields=["stock"])
        if not applied:
            messages.error(
                request,
                f"The stock of {obj.name} was not changed: it is {obj.stock} now (units were "
                f"sold while you were editing), too few to take {seen - wanted} off.",
            )
        elif seen != wanted and obj.stock != wanted:
            messages.warning(
                request,
                f"Stock of {obj.name} is now {obj.stock}: your change of {wanted - seen:+d} "
                "was applied to the units left after sales made while you were editing.",
            )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("images")

    @admin.display(description="picture")
    def picture(self, product: Product):
        return _thumbnail_tag(product.main_image, size=48)

    @admin.display(description="price", ordering="price")
    def price_display(self, product: Product) -> str:
        return money(product.price, product.currency)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "product_count")
    list_editable = ("position",)
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_total=Count("products"))

    @admin.display(description="products", ordering="product_total")
    def product_count(self, category: Category) -> int:
        return category.product_total
