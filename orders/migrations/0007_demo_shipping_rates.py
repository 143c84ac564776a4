"""Starting shipping rates and VAT rates, so that a new shop can take an order at once.

The owner edits or deletes them in the admin (Orders > Shipping zones, VAT rates); this
runs only on a database with no shipping zone yet. VAT: the EU standard rates as of 2025;
check them, they change.
"""

from django.db import migrations

EU_VAT = {
    "AT": "0.2000", "BE": "0.2100", "BG": "0.2000", "HR": "0.2500", "CY": "0.1900",
    "CZ": "0.2100", "DK": "0.2500", "EE": "0.2400", "FI": "0.2550", "FR": "0.2000",
    "DE": "0.1900", "GR": "0.2400", "HU": "0.2700", "IE": "0.2300", "IT": "0.2200",
    "LV": "0.2100", "LT": "0.2100", "LU": "0.1700", "MT": "0.1800", "NL": "0.2100",
    "PL": "0.2300", "PT": "0.2300", "RO": "0.2100", "SK": "0.2300", "SI": "0.2200",
    "ES": "0.2100", "SE": "0.2500",
}  # fmt: skip

# (zone, countries, [(method, price, free over, estimate)]); prices in cents, VAT included.
ZONES = [
    ("Netherlands", ["NL"], [
        ("Standard", 495, 5000, "1-2 working days"),
        ("Express", 995, None, "next working day"),
    ]),
    ("European Union", sorted(set(EU_VAT) - {"NL"}), [
        ("Standard", 995, 10000, "3-6 working days"),
        ("Express", 1995, None, "1-3 working days"),
    ]),
    ("Rest of the world", ["GB", "CH", "NO", "US", "CA", "AU"], [
        ("International", 1995, None, "5-12 working days"),
    ]),
]  # fmt: skip


def seed(apps, schema_editor):
    ShippingZone = apps.get_model("orders", "ShippingZone")
    ShippingMethod = apps.get_model("orders", "ShippingMethod")
    VatRate = apps.get_model("orders", "VatRate")
    if ShippingZone.objects.exists():
        return
    for zone_name, countries, methods in ZONES:
        zone = ShippingZone.objects.create(name=zone_name, countries=countries)
        for position, (name, price, free_over, estimate) in enumerate(methods):
            ShippingMethod.objects.create(
                zone=zone,
                name=name,
                price=price,
                free_over=free_over,
                delivery_estimate=estimate,
                position=position,
            )
    for country, rate in EU_VAT.items():
        VatRate.objects.get_or_create(country=country, defaults={"rate": rate})


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_delivery_shipping_vat")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
