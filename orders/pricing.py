"""What an order costs: the goods, shipping by destination, and the VAT they include.

Prices are VAT-inclusive (what the customer pays is what the shelf says). The VAT shown is
the part of the order's total (goods and shipping) at the destination country's rate, one
rate per country (``VatRate``): ``gross * rate / (1 + rate)``, computed once on the total and
rounded to the nearest cent, halves up. A country without a rate shows no VAT (0 %). The
server computes every figure here; the browser only displays them.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Subquery
from django_countries import countries as all_countries

from orders.exceptions import ShippingUnavailable
from orders.models import ShippingMethod, VatRate


@dataclass(frozen=True)
class Quote:
    """An order's figures, in minor units; ``total`` is what Stripe is asked for."""

    goods: int
    shipping: int
    shipping_method_id: int
    shipping_method_name: str
    vat_rate: Decimal
    vat: int

    @property
    def total(self) -> int:
        return self.goods + self.shipping

    @property
    def vat_percent(self) -> str:
        return f"{(self.vat_rate * 100).normalize():f}"


def vat_included(gross: int, rate: Decimal) -> int:
    """The VAT contained in ``gross`` (minor units) at ``rate``, rounded half up to a cent."""
    if rate <= 0:
        return 0
    return int((Decimal(gross) * rate / (1 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _active_methods():
    return ShippingMethod.objects.filter(is_active=True).select_related("zone")


def shipping_countries(methods: list[ShippingMethod] | None = None) -> list[tuple[str, str]]:
    """(code, name) of every country some active method delivers to, sorted by name."""
    methods = all_methods() if methods is None else methods
    codes = {code for method in methods for code in method.zone.country_codes}
    return sorted(((c, all_countries.name(c)) for c in codes), key=lambda pair: pair[1])


def all_methods() -> list[ShippingMethod]:
    """Every active method, for the checkout page (each says which countries it serves)."""
    return list(_active_methods())


def quote(*, goods: int, currency: str, country: str, shipping_method_id: int) -> Quote:
    """The figures of an order of ``goods`` sent to ``country`` by the chosen method.

    One query (on the checkout's path): the method, its zone and the country's VAT rate.
    Raises ShippingUnavailable when that method does not (or no longer) deliver there.
    """
    method = (
        _active_methods()
        .filter(pk=shipping_method_id, currency=currency)
        .annotate(vat_rate=Subquery(VatRate.objects.filter(country=country).values("rate")[:1]))
        .first()
    )
    if method is None or not country or country not in method.zone.country_codes:
        raise ShippingUnavailable(
            "The delivery method you chose is not available for this country; "
            "please choose another."
        )
    shipping = method.price_for(goods)
    rate = method.vat_rate if method.vat_rate is not None else Decimal(0)
    return Quote(
        goods=goods,
        shipping=shipping,
        shipping_method_id=method.pk,
        shipping_method_name=method.name,
        vat_rate=rate,
        vat=vat_included(goods + shipping, rate),
    )
