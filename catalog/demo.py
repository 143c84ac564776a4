"""The demo catalog: real-looking products for the demo shop, created idempotently."""

from django.db import transaction

from catalog.models import Product

DEMO_PRODUCTS = [
    ("enamel-mug", "Enamel mug", "A speckled camp mug that survives every fall.", 1800, 40),
    (
        "field-notebook",
        "Field notebook",
        "48 pages of dot grid, stitched, fits a back pocket.",
        900,
        100,
    ),
    (
        "wool-socks",
        "Merino socks",
        "Warm, soft and they do not itch. One size fits most.",
        2400,
        25,
    ),
    ("canvas-tote", "Canvas tote", "Heavy canvas bag with a pocket for keys.", 2900, 15),
    ("pour-over", "Pour-over kit", "Ceramic dripper and 100 filters.", 4500, 8),
    ("last-one", "The last one", "Only one left: a test of stock limits.", 9900, 1),
]


def load_demo_catalog() -> tuple[int, int]:
    """Create the demo products that are missing; existing ones keep their stock and price."""
    created = 0
    with transaction.atomic():
        for slug, name, description, price, stock in DEMO_PRODUCTS:
            _, was_created = Product.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "description": description,
                    "price": price,
                    "currency": "eur",
                    "stock": stock,
                },
            )
            created += was_created
    return created, len(DEMO_PRODUCTS) - created
