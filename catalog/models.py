"""The catalog's one model: a product and its stock."""

from django.db import models
from django.urls import reverse


class Product(models.Model):
    """Something the shop sells; prices are integers in the currency's minor unit."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.PositiveIntegerField(help_text="Price in minor units (cents).")
    currency = models.CharField(max_length=3, default="eur")
    stock = models.IntegerField(default=0, help_text="Units available to sell.")
    is_active = models.BooleanField(default=True)

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
