"""Read a page's form the way a browser would: every hidden input goes back with the post."""

import html
import re

INPUT_RE = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
ATTR_RE = re.compile(r'(\w[\w-]*)="([^"]*)"')


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the page (checkout token, cart signature, CSRF token...)."""
    fields = {}
    for tag in INPUT_RE.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in ATTR_RE.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and attrs.get("name"):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


SHIPPING_OPTION_RE = re.compile(
    r'data-countries="([^"]*)"[^>]*>\s*<input type="radio" name="shipping_method"[^>]*value="(\d+)"'
)


def delivery_fields(page: str, country: str = "NL") -> dict[str, str]:
    """A delivery address in ``country`` and the first delivery method the page offers there."""
    offered = SHIPPING_OPTION_RE.findall(page)
    methods = [value for codes, value in offered if country in codes.split()]
    if not methods:
        raise ValueError(f"the checkout page offers no delivery to {country}")
    return {
        "full_name": "Chaos Customer",
        "address_line1": "Keizersgracht 1",
        "address_line2": "",
        "city": "Amsterdam",
        "postal_code": "1015 CJ",
        "country": country,
        "shipping_method": methods[0],
    }
