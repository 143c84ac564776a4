"""Stock arithmetic: reserve units for an order, give them back. Each is one conditional
UPDATE, so two checkouts can never sell the same last unit."""

from collections.abc import Iterable

from django.db.models import F

from catalog.models import Product


def reserve(product: Product, quantity: int) -> bool:
    """Take ``quantity`` units of an active product; False if not that many are left."""
    return bool(
        Product.objects.filter(pk=product.pk, is_active=True, stock__gte=quantity).update(
            stock=F("stock") - quantity
        )
    )


def release(lines: Iterable[tuple[int, int]]) -> None:
    """Put (product_id, quantity) units back; products are updated in id order (no deadlock)."""
    for product_id, quantity in sorted(lines):
        Product.objects.filter(pk=product_id).update(stock=F("stock") + quantity)


def adjust(product_id: int, *, seen: int, wanted: int) -> bool:
    """Apply a count typed by staff as the change from the count they were shown.

    Staff read the stock, type a new figure, and save minutes later; checkouts reserve units
    in between. Writing the figure as is would hand those units out again (or lose a
    restock), so only the difference is applied, in one conditional UPDATE. False, with
    nothing changed, when units sold meanwhile would take the stock below zero.
    """
    delta = wanted - seen
    if not delta:
        return True
    return bool(
        Product.objects.filter(pk=product_id, stock__gte=-delta).update(stock=F("stock") + delta)
    )
