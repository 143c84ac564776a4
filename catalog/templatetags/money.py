"""The ``money`` template filter: minor units and a currency as people read them."""

from django import template

register = template.Library()

_SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£"}


@register.filter
def money(amount, currency="eur"):
    """Format an amount in minor units, e.g. 1999, "eur" -> "€19.99"."""
    if amount is None:
        return ""
    amount = int(amount)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    symbol = _SYMBOLS.get(str(currency).lower(), f"{str(currency).upper()} ")
    return f"{sign}{symbol}{major:,}.{minor:02d}"
