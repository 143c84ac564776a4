"""The cart lives in the session as {product_id: quantity}; prices always come from the database."""

import hashlib
from dataclasses import dataclass

from django.conf import settings

from catalog.exceptions import CartError
from catalog.models import Product

SESSION_KEY = "cart"


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> int:
        return self.product.price * self.quantity

    @property
    def short_of_stock(self) -> bool:
        return self.quantity > self.product.stock


class Cart:
    def __init__(self, session):
        self.session = session
        self._lines: list[CartLine] | None = None

    def _items(self) -> dict[str, int]:
        items = self.session.get(SESSION_KEY)
        if not isinstance(items, dict):
            return {}
        # Only our code writes the session, but a cart that reads defensively never crashes
        # a page: anything that is not "positive id -> positive quantity" is ignored.
        return {
            pk: qty
            for pk, qty in items.items()
            if isinstance(pk, str)
            and pk.isascii()
            and pk.isdigit()
            and isinstance(qty, int)
            and qty > 0
        }

    def _save(self, items: dict[str, int]) -> None:
        self.session[SESSION_KEY] = items
        self.session.modified = True
        self._lines = None

    def lines(self) -> list[CartLine]:
        """Return the lines with their current products; vanished or withdrawn ones drop out."""
        if self._lines is None:
            items = self._items()
            products = (
                Product.objects.in_bulk([int(pk) for pk in items], field_name="pk") if items else {}
            )
            self._lines = [
                CartLine(product=products[int(pk)], quantity=qty)
                for pk, qty in items.items()
                if int(pk) in products and products[int(pk)].is_active
            ]
        return self._lines

    def count(self) -> int:
        return sum(line.quantity for line in self.lines())

    def quantity_of(self, product_id: int) -> int:
        return self._items().get(str(product_id), 0)

    def total(self) -> int:
        return sum(line.total for line in self.lines())

    def currency(self) -> str:
        lines = self.lines()
        return lines[0].product.currency if lines else "eur"

    def signature(self) -> str:
        """A digest of what the customer is shown (products, quantities, prices, currency).

        The checkout form carries it so that a cart changed in another tab, or a price changed
        meanwhile, is noticed before paying. It is compared, never used to compute a price.
        """
        shown = "|".join(
            f"{line.product.pk}:{line.quantity}:{line.product.price}:{line.product.currency}"
            for line in sorted(self.lines(), key=lambda line: line.product.pk)
        )
        return hashlib.sha256(shown.encode()).hexdigest()[:32]

    def problems(self) -> list[str]:
        """What would stop a checkout right now (stock sold to others since it was added)."""
        problems = []
        for line in self.lines():
            if line.product.stock == 0:
                problems.append(
                    f"Sorry, {line.product.name} is now out of stock; please remove it."
                )
            elif line.short_of_stock:
                problems.append(
                    f"Only {line.product.stock} of {line.product.name} left in stock; "
                    "please lower the quantity."
                )
        return problems

    def set_quantity(self, *, product: Product, quantity: int) -> None:
        """Set a line's quantity (0 removes it) after checking it against limits and stock.

        Raises CartError, with the cart unchanged, when the change is refused.
        """
        if quantity < 0:
            raise CartError("Quantity cannot be negative.")
        if quantity > settings.CART_MAX_QUANTITY:
            raise CartError(f"You can order at most {settings.CART_MAX_QUANTITY} of one item.")
        if quantity and not product.is_active:
            raise CartError(f"Sorry, {product.name} is no longer sold.")
        if quantity > product.stock:
            if product.stock == 0:
                raise CartError(f"Sorry, {product.name} is out of stock.")
            raise CartError(f"Only {product.stock} of {product.name} left in stock.")
        others = [line for line in self.lines() if line.product.pk != product.pk]
        if quantity and others and others[0].product.currency != product.currency:
            raise CartError("A cart can only hold products in one currency.")
        items = dict(self._items())
        if quantity:
            items[str(product.pk)] = quantity
        else:
            items.pop(str(product.pk), None)
        self._save(items)

    def add(self, *, product: Product, quantity: int) -> None:
        if quantity < 1:
            raise CartError("Quantity must be at least 1.")
        already = self.quantity_of(product.pk)
        try:
            self.set_quantity(product=product, quantity=already + quantity)
        except CartError as exc:
            if already:
                raise CartError(f"{exc} Your cart already holds {already}.") from exc
            raise

    def remove(self, *, product: Product) -> None:
        self.set_quantity(product=product, quantity=0)

    def clear(self) -> None:
        self._save({})
