"""What the storefront reads from the catalog."""

from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import Category, Product


def shop_window(*, category: Category | None = None) -> QuerySet[Product]:
    """Active products (sold-out ones too: they say so), with their pictures prefetched."""
    products = Product.objects.filter(is_active=True).select_related("category")
    if category is not None:
        products = products.filter(category=category)
    return products.prefetch_related("images")


def navigation_categories() -> list[Category]:
    """The categories that have something to show, in the owner's order."""
    active = Product.objects.filter(category=OuterRef("pk"), is_active=True)
    return list(Category.objects.filter(Exists(active)))
