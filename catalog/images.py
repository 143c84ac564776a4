"""Product pictures: what an upload must be, and the renditions the pages show.

Uploads are checked before anything is stored: a size limit, Pillow must read the file as one
of a few web formats, and a pixel limit (a small file can decode to gigabytes). The renditions
are made once, when an image is saved (not while a page is served): a square thumbnail for the
cart, the admin and the gallery's strip; a 4:3 card for the product grid; a large picture for
the product page. All WebP (every current browser shows it; a third of JPEG's size).
"""

from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
ACCEPTED_EXTENSIONS = ["jpg", "jpeg", "png", "webp", "gif"]
MAX_PIXELS = 40_000_000  # 40 megapixels: any phone photo, not a decompression bomb


@dataclass(frozen=True)
class Rendition:
    field: str
    size: tuple[int, int]
    crop: bool  # True: fill the box exactly (centre crop); False: fit inside it


RENDITIONS = (
    Rendition("thumbnail", (200, 200), crop=True),
    Rendition("card", (640, 480), crop=True),
    Rendition("large", (1200, 1200), crop=False),
)


def validate_product_image(upload) -> None:
    """Refuse anything but a readable JPEG/PNG/WebP/GIF within the size and pixel limits."""
    limit = settings.PRODUCT_IMAGE_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            "This file is %(size)s MB; pictures can be at most %(limit)s MB.",
            code="too_large",
            params={"size": f"{upload.size / 1_048_576:.1f}", "limit": f"{limit / 1_048_576:g}"},
        )
    position = upload.tell() if hasattr(upload, "tell") else 0
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            kind, (width, height) = image.format, image.size
            image.verify()  # reads the whole file: a truncated or corrupt one fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            "This file is not a picture we can read. Please upload a JPEG, PNG, WebP or GIF.",
            code="not_an_image",
        ) from None
    finally:
        upload.seek(position)
    if kind not in ACCEPTED_FORMATS:
        raise ValidationError(
            "%(kind)s pictures are not accepted. Please upload a JPEG, PNG, WebP or GIF.",
            code="format",
            params={"kind": kind},
        )
    if width * height > MAX_PIXELS:
        raise ValidationError(
            "This picture is %(width)s × %(height)s pixels; at most 40 megapixels please.",
            code="too_many_pixels",
            params={"width": width, "height": height},
        )


def make_renditions(source) -> dict[str, ContentFile]:
    """Return {field name: WebP file} for every rendition of the picture in ``source``."""
    source.seek(0)
    with Image.open(source) as original:
        original.load()
        picture = ImageOps.exif_transpose(original)  # phone photos stand the right way up
    picture = picture.convert("RGBA" if _has_alpha(picture) else "RGB")
    files = {}
    for rendition in RENDITIONS:
        if rendition.crop:
            resized = ImageOps.fit(picture, rendition.size, Image.Resampling.LANCZOS)
        else:
            resized = picture.copy()
            resized.thumbnail(rendition.size, Image.Resampling.LANCZOS)
        out = BytesIO()
        resized.save(out, format="WEBP", quality=82, method=4)
        files[rendition.field] = ContentFile(out.getvalue())
    return files


def _has_alpha(picture: Image.Image) -> bool:
    return picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    )
