"""The cart lives in the session as {product_id: quantity}; prices always come from the database."""

from dataclasses import dataclass

from django.conf import settings

from shop.exceptions import CartError
from shop.models import Product

SESSION_KEY = "cart"


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> int:
        return self.product.price * self.quantity


class Cart:
    def __init__(self, session):
        self.session = session

    def _items(self) -> dict[str, int]:
        return self.session.get(SESSION_KEY, {})

    def _save(self, items: dict[str, int]) -> None:
        self.session[SESSION_KEY] = items
        self.session.modified = True

    def count(self) -> int:
        return sum(self._items().values())

    def quantity_of(self, product_id: int) -> int:
        return self._items().get(str(product_id), 0)

    def lines(self) -> list[CartLine]:
        """Return the cart's lines with current products; vanished products drop out."""
        items = self._items()
        if not items:
            return []
        products = Product.objects.in_bulk([int(pk) for pk in items], field_name="pk")
        return [
            CartLine(product=products[int(pk)], quantity=qty)
            for pk, qty in items.items()
            if int(pk) in products and products[int(pk)].is_active
        ]

    def total(self) -> int:
        return sum(line.total for line in self.lines())

    def currency(self) -> str:
        lines = self.lines()
        return lines[0].product.currency if lines else "eur"

    def set_quantity(self, *, product: Product, quantity: int) -> None:
        """Set a line's quantity (0 removes it) after checking it against limits and stock."""
        if quantity < 0:
            raise CartError("Quantity cannot be negative.")
        if quantity > settings.CART_MAX_QUANTITY:
            raise CartError(f"You can order at most {settings.CART_MAX_QUANTITY} of one item.")
        if quantity and not product.is_active:
            raise CartError("This product is no longer sold.")
        if quantity > product.stock:
            if product.stock == 0:
                raise CartError(f"Sorry, {product.name} is out of stock.")
            raise CartError(f"Only {product.stock} of {product.name} left in stock.")
        items = dict(self._items())
        other = [line for pk, line in items.items() if pk != str(product.pk)]
        if quantity and other and self.currency() != product.currency:
            raise CartError("A cart can only hold products in one currency.")
        if quantity:
            items[str(product.pk)] = quantity
        else:
            items.pop(str(product.pk), None)
        self._save(items)

    def add(self, *, product: Product, quantity: int) -> None:
        if quantity < 1:
            raise CartError("Quantity must be at least 1.")
        self.set_quantity(product=product, quantity=self.quantity_of(product.pk) + quantity)

    def clear(self) -> None:
        self._save({})
