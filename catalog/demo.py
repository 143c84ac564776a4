"""The demo catalog: real-looking products in four categories, with pictures drawn by Pillow.

Created idempotently: a product that exists keeps its stock, price and pictures. The pictures
are simple flat illustrations drawn here at load time (deterministic, nothing downloaded, no
binary files in the repository), two per product: the product, and a detail on a second
background.
"""

from io import BytesIO

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw

from catalog.models import Category, Product, ProductImage

DEMO_CATEGORIES = [
    ("mugs-cups", "Mugs & cups"),
    ("tea-coffee", "Tea & coffee"),
    ("paper-goods", "Paper goods"),
    ("bags-clothing", "Bags & clothing"),
]

# slug, name, category, description (Markdown), price (cents), stock, drawing, colours
DEMO_PRODUCTS = [
    (
        "enamel-mug",
        "Enamel mug",
        "mugs-cups",
        "A speckled camp mug that survives every fall.\n\n"
        "- 350 ml, steel with a glass enamel coat\n- Dishwasher safe\n- Rolled stainless rim",
        1800,
        40,
        "mug",
        ("#2f6f8f", "#f3efe6"),
    ),
    (
        "stoneware-cup",
        "Stoneware cup",
        "mugs-cups",
        "A small cup for espresso or tea, **thrown by hand** in our studio. Each glaze pools "
        "a little differently.",
        2200,
        30,
        "cup",
        ("#b5654a", "#f6ebe0"),
    ),
    (
        "studio-teapot",
        "Hand-thrown teapot",
        "tea-coffee",
        "One of a kind: a 900 ml stoneware teapot with a built-in strainer. "
        "*Only this one is made in this glaze.*",
        9900,
        1,
        "teapot",
        ("#4d7a5a", "#eef1e8"),
    ),
    (
        "pour-over",
        "Pour-over kit",
        "tea-coffee",
        "Ceramic dripper and 100 filters.\n\n### How to brew\n\n1. Rinse the filter\n"
        "2. 15 g of coffee, 250 ml of water at 94 °C\n3. Pour slowly in circles",
        4500,
        8,
        "dripper",
        ("#3b3b3b", "#f1ede4"),
    ),
    (
        "sencha-tea",
        "Sencha green tea, 100 g",
        "tea-coffee",
        "Steamed green tea from Shizuoka: grassy, bright, a little sweet. Brew at 70 °C for "
        "one minute.",
        1250,
        60,
        "tin",
        ("#6f8f3a", "#f5f2e1"),
    ),
    (
        "field-notebook",
        "Field notebook",
        "paper-goods",
        "48 pages of dot grid, stitched, fits a back pocket.",
        900,
        100,
        "notebook",
        ("#c58b2a", "#f7f1e3"),
    ),
    (
        "linen-journal",
        "Linen journal",
        "paper-goods",
        "A5, 192 pages of 100 g paper that takes fountain pens, lay-flat binding, linen cover.",
        2600,
        20,
        "journal",
        ("#8a5a7a", "#f4eef2"),
    ),
    (
        "graphite-pencils",
        "Graphite pencils, set of 6",
        "paper-goods",
        "Cedar pencils from 2H to 6B, for writing and sketching. *Back in stock soon.*",
        1100,
        0,
        "pencils",
        ("#2f4858", "#f3f0ea"),
    ),
    (
        "wool-socks",
        "Merino socks",
        "bags-clothing",
        "Warm, soft and they do not itch. One size fits most.",
        2400,
        25,
        "sock",
        ("#a33b3b", "#f5ece8"),
    ),
    (
        "canvas-tote",
        "Canvas tote",
        "bags-clothing",
        "Heavy canvas bag with a pocket for keys.",
        2900,
        15,
        "tote",
        ("#7a6a4f", "#f2eee5"),
    ),
]

# Products an older demo created under another slug: renamed in place (stock kept).
RENAMED = {"last-one": "studio-teapot"}

SIZE = (1200, 900)


def load_demo_catalog() -> tuple[int, int]:
    """Create the demo categories and products that are missing; existing ones are kept."""
    created = 0
    with transaction.atomic():
        categories = {}
        for position, (slug, name) in enumerate(DEMO_CATEGORIES):
            categories[slug], _ = Category.objects.get_or_create(
                slug=slug, defaults={"name": name, "position": position}
            )
        demo = {slug: rest for slug, *rest in DEMO_PRODUCTS}
        for old, new in RENAMED.items():
            if not Product.objects.filter(slug=new).exists():
                name, _, description, *_ = demo[new]
                Product.objects.filter(slug=old).update(
                    slug=new, name=name, description=description
                )
        for slug, name, category, description, price, stock, drawing, colours in DEMO_PRODUCTS:
            product, was_created = Product.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "category": categories[category],
                    "description": description,
                    "price": price,
                    "currency": "eur",
                    "stock": stock,
                },
            )
            created += was_created
            if product.category_id is None:
                product.category = categories[category]
                product.save(update_fields=["category"])
            if not product.images.exists():
                _add_pictures(product, drawing, colours)
    return created, len(DEMO_PRODUCTS) - created


def _add_pictures(product: Product, drawing: str, colours: tuple[str, str]) -> None:
    colour, background = colours
    views = [
        (background, 1.0, f"{product.name} on a plain background", True),
        (colour, 0.75, f"{product.name}, close up", False),
    ]
    for position, (backdrop, scale, alt_text, is_main) in enumerate(views):
        ink = "#fbfaf7" if backdrop == colour else colour
        picture = draw_product(drawing, ink=ink, background=backdrop, scale=scale)
        picture.name = f"{product.slug}-{position + 1}.png"
        ProductImage.objects.create(
            product=product, image=picture, alt_text=alt_text, is_main=is_main, position=position
        )


def draw_product(kind: str, *, ink: str, background: str, scale: float = 1.0) -> ContentFile:
    """A flat illustration of a product of ``kind`` as a PNG file."""
    image = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(image)
    cx, cy = SIZE[0] // 2, SIZE[1] // 2 + 20

    def box(w, h, dx=0, dy=0):
        w, h, dx, dy = (int(v * scale) for v in (w, h, dx, dy))
        return (cx + dx - w // 2, cy + dy - h // 2, cx + dx + w // 2, cy + dy + h // 2)

    shade = _mix(ink, background, 0.35)
    draw.ellipse(box(620, 70, dy=250), fill=_mix(background, "#000000", 0.08))  # shadow
    if kind in ("mug", "cup"):
        w, h = (380, 400) if kind == "mug" else (300, 260)
        draw.ellipse(box(140, 200, dx=w // 2 + 20), outline=ink, width=int(44 * scale))
        draw.rounded_rectangle(box(w, h, dy=240 - h // 2), radius=int(40 * scale), fill=ink)
        draw.ellipse(box(w, 60, dy=240 - h), fill=shade)
        if kind == "mug":
            for i in range(14):
                x, y = (i * 97) % 300 - 150, (i * 61) % 300 - 120
                draw.ellipse(box(14, 14, dx=x, dy=y + 60), fill=background)
    elif kind == "teapot":
        draw.polygon(
            [
                _pt(cx, cy, scale, x, y)
                for x, y in [(-200, 40), (-390, -120), (-360, -140), (-170, -20)]
            ],
            fill=ink,
        )
        draw.ellipse(box(180, 220, dx=250, dy=20), outline=ink, width=int(40 * scale))
        draw.ellipse(box(460, 380, dy=40), fill=ink)
        draw.rounded_rectangle(box(240, 60, dy=-150), radius=int(30 * scale), fill=shade)
        draw.ellipse(box(60, 60, dy=-195), fill=ink)
    elif kind == "dripper":
        draw.polygon(
            [_pt(cx, cy, scale, x, y) for x, y in [(-230, -190), (230, -190), (70, 80), (-70, 80)]],
            fill=ink,
        )
        draw.rounded_rectangle(box(300, 40, dy=100), radius=int(15 * scale), fill=ink)
        draw.rounded_rectangle(
            box(240, 160, dy=200), radius=int(30 * scale), outline=ink, width=int(16 * scale)
        )
    elif kind == "tin":
        draw.rounded_rectangle(box(300, 420, dy=30), radius=int(24 * scale), fill=ink)
        draw.rounded_rectangle(box(320, 70, dy=-190), radius=int(16 * scale), fill=shade)
        draw.rectangle(box(300, 120, dy=40), fill=background)
        draw.ellipse(box(70, 70, dy=40), fill=ink)
    elif kind in ("notebook", "journal"):
        w, h = (360, 500) if kind == "notebook" else (420, 540)
        draw.rounded_rectangle(box(w, h, dx=14, dy=14), radius=int(14 * scale), fill=shade)
        draw.rounded_rectangle(box(w, h), radius=int(14 * scale), fill=ink)
        draw.rectangle(box(34, h, dx=w // 2 - 70), fill=shade)
        if kind == "journal":
            draw.rectangle(box(w - 120, 90, dy=-120), fill=background)
    elif kind == "pencils":
        for i in range(6):
            dx = (i - 2.5) * 90
            draw.rectangle(box(56, 460, dx=dx, dy=20), fill=ink if i % 2 else shade)
            draw.polygon(
                [_pt(cx, cy, scale, dx + x, y) for x, y in [(-28, -210), (28, -210), (0, -280)]],
                fill="#e8c9a0",
            )
    elif kind == "sock":
        draw.rounded_rectangle(box(180, 420, dx=-60, dy=-60), radius=int(40 * scale), fill=ink)
        draw.rounded_rectangle(box(340, 170, dx=20, dy=130), radius=int(85 * scale), fill=ink)
        draw.rectangle(box(180, 60, dx=-60, dy=-250), fill=shade)
    elif kind == "tote":
        draw.arc(box(220, 300, dx=-70, dy=-170), 180, 360, fill=ink, width=int(22 * scale))
        draw.arc(box(220, 300, dx=70, dy=-170), 180, 360, fill=shade, width=int(22 * scale))
        draw.rectangle(box(460, 420, dy=60), fill=ink)
        draw.rectangle(box(160, 110, dy=110), fill=shade)
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return ContentFile(out.getvalue())


def _pt(cx: int, cy: int, scale: float, x: float, y: float) -> tuple[int, int]:
    return (int(cx + x * scale), int(cy + y * scale))


def _mix(a: str, b: str, t: float) -> str:
    ca, cb = (tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))
