"""The catalog: categories, products with their stock, and the products' pictures."""

from pathlib import PurePosixPath

from django.core.validators import FileExtensionValidator
from django.db import models
from django.urls import reverse
from django.utils.functional import cached_property

from catalog.images import ACCEPTED_EXTENSIONS, make_renditions, validate_product_image
from catalog.text import plain_summary, render_description


class Category(models.Model):
    """A shelf of the shop: the header's navigation lists them in ``position`` order."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True, help_text="The category's address: /category/<slug>/.")
    position = models.PositiveIntegerField(
        "order", default=0, help_text="Smaller numbers come first in the navigation."
    )

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("shop:category", args=[self.slug])


class Product(models.Model):
    """Something the shop sells; prices are integers in the currency's minor unit."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    description = models.TextField(
        blank=True,
        help_text="Markdown: **bold**, *italic*, lists with '- ', links as [text](https://…), "
        "### for a small heading.",
    )
    price = models.PositiveIntegerField(help_text="Price in minor units (cents).")
    currency = models.CharField(max_length=3, default="eur")
    stock = models.IntegerField(default=0, help_text="Units available to sell.")
    is_active = models.BooleanField(
        "active", default=True, help_text="Only active products are shown and sold."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stock__gte=0), name="product_stock_not_negative"
            ),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="product_price_positive"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("shop:product_detail", args=[self.slug])

    def description_html(self):
        return render_description(self.description)

    def summary(self) -> str:
        return plain_summary(self.description)

    @cached_property
    def gallery(self) -> list["ProductImage"]:
        """The pictures, main one first (uses ``prefetch_related("images")`` when given)."""
        return list(self.images.all())

    @property
    def main_image(self) -> "ProductImage | None":
        return self.gallery[0] if self.gallery else None


def _upload_path(instance: "ProductImage", filename: str) -> str:
    stem = PurePosixPath(filename).stem[:60] or "picture"
    return f"products/{instance.product.slug}/{stem}{PurePosixPath(filename).suffix.lower()}"


def _rendition_path(instance: "ProductImage", filename: str) -> str:
    return f"products/{instance.product.slug}/renditions/{filename}"


class ProductImage(models.Model):
    """A picture of a product; the main one leads the card and the gallery."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(
        upload_to=_upload_path,
        # The extension too: the file is served back under its name (a PNG named .html
        # would otherwise be served as a page).
        validators=[FileExtensionValidator(ACCEPTED_EXTENSIONS), validate_product_image],
        help_text="JPEG, PNG, WebP or GIF, up to 5 MB. Thumbnails are made from it.",
    )
    alt_text = models.CharField(
        "description for screen readers",
        max_length=200,
        help_text="What the picture shows, e.g. 'Blue enamel mug on a wooden table'.",
    )
    is_main = models.BooleanField("main picture", default=False)
    position = models.PositiveIntegerField("order", default=0)
    # Made from ``image`` when it is saved (catalog/images.py); never edited by hand.
    thumbnail = models.ImageField(upload_to=_rendition_path, editable=False, blank=True)
    card = models.ImageField(upload_to=_rendition_path, editable=False, blank=True)
    large = models.ImageField(upload_to=_rendition_path, editable=False, blank=True)

    class Meta:
        ordering = ["-is_main", "position", "pk"]
        verbose_name = "picture"

    def __str__(self):
        return self.alt_text

    def save(self, *args, **kwargs):
        new_upload = bool(self.image) and not getattr(self.image, "_committed", True)
        super().save(*args, **kwargs)
        if new_upload or (self.image and not self.thumbnail):
            self.make_renditions()

    def make_renditions(self) -> None:
        """(Re)make the thumbnail, card and large pictures from ``image``."""
        stem = PurePosixPath(self.image.name).stem
        with self.image.open("rb") as source:
            files = make_renditions(source)
        for field, content in files.items():
            old = getattr(self, field)
            if old:
                old.storage.delete(old.name)  # a new upload replaces its renditions
            old.save(f"{stem}-{field}.webp", content, save=False)
        super().save(update_fields=list(files))
