"""Product pictures: what an upload must be, and the renditions made from it."""

from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.images import validate_product_image
from catalog.models import ProductImage

pytestmark = pytest.mark.django_db


def picture(size=(800, 600), format="PNG", colour="#336699", **save_options) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, colour).save(out, format=format, **save_options)
    return out.getvalue()


def upload(data: bytes, name="photo.png", content_type="image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_a_png_a_jpeg_and_a_webp_are_accepted():
    for format in ("PNG", "JPEG", "WEBP"):
        validate_product_image(upload(picture(format=format)))


def test_a_text_file_named_like_a_picture_is_refused():
    with pytest.raises(ValidationError, match="not a picture we can read") as refused:
        validate_product_image(upload(b"<?php echo 'hello'; ?>" * 20))
    assert refused.value.code == "not_an_image"


def test_a_truncated_picture_is_refused():
    data = picture(format="PNG")
    with pytest.raises(ValidationError) as refused:
        validate_product_image(upload(data[: len(data) // 2]))
    assert refused.value.code == "not_an_image"


def test_a_picture_format_browsers_do_not_show_is_refused():
    with pytest.raises(ValidationError, match="TIFF pictures are not accepted"):
        validate_product_image(upload(picture(format="TIFF"), name="scan.tiff"))


def test_a_file_over_the_size_limit_is_refused_with_the_limit_in_the_message(settings):
    settings.PRODUCT_IMAGE_MAX_BYTES = 1024 * 1024
    big = picture(size=(1500, 1500), format="BMP")  # ~6.7 MB, BMP does not compress
    with pytest.raises(ValidationError) as refused:
        validate_product_image(upload(big, name="big.bmp"))
    assert refused.value.code == "too_large"
    assert "at most 1 MB" in refused.value.messages[0]


def test_a_picture_with_too_many_pixels_is_refused():
    huge = picture(size=(10_000, 5_000), format="PNG")  # 50 MP of one colour: a small file
    with pytest.raises(ValidationError, match="10000 × 5000 pixels") as refused:
        validate_product_image(upload(huge))
    assert refused.value.code == "too_many_pixels"


def test_saving_a_picture_makes_its_thumbnail_card_and_large_renditions(make_product):
    product = make_product(slug="tray")
    image = ProductImage.objects.create(
        product=product,
        image=upload(picture(size=(3000, 1000)), name="Tray photo.PNG"),
        alt_text="A tray",
    )

    image.refresh_from_db()
    assert image.image.name == "products/tray/Tray_photo.png"
    sizes = {}
    for field in ("thumbnail", "card", "large"):
        with getattr(image, field).open("rb") as f, Image.open(f) as rendition:
            assert rendition.format == "WEBP"
            sizes[field] = rendition.size
    assert sizes == {"thumbnail": (200, 200), "card": (640, 480), "large": (1200, 400)}


def test_a_replaced_picture_gets_new_renditions_and_the_old_ones_are_removed(make_product):
    image = ProductImage.objects.create(
        product=make_product(), image=upload(picture(colour="#ff0000")), alt_text="Red"
    )
    old_thumbnail = image.thumbnail.name
    storage = image.thumbnail.storage

    image.image = upload(picture(colour="#0000ff"), name="blue.png")
    image.save()

    with image.thumbnail.open("rb") as f, Image.open(f) as thumb:
        assert thumb.convert("RGB").getpixel((100, 100))[2] > 200  # blue now
    folder = old_thumbnail.rsplit("/", 1)[0]
    # One set of renditions, no leftovers of the red picture.
    assert sorted(storage.listdir(folder)[1]) == [
        "blue-card.webp",
        "blue-large.webp",
        "blue-thumbnail.webp",
    ]


def test_deleting_a_product_removes_its_picture_files(
    make_product, django_capture_on_commit_callbacks
):
    product = make_product()
    image = ProductImage.objects.create(product=product, image=upload(picture()), alt_text="x")
    names = [getattr(image, f).name for f in ("image", "thumbnail", "card", "large")]
    storage = image.image.storage
    assert all(storage.exists(name) for name in names)

    with django_capture_on_commit_callbacks(execute=True):
        product.delete()

    assert not any(storage.exists(name) for name in names)


def test_the_main_picture_leads_the_gallery_whatever_its_position(make_product):
    product = make_product()
    for position, main in ((0, False), (1, True), (2, False)):
        ProductImage.objects.create(
            product=product,
            image=upload(picture()),
            alt_text=f"p{position}",
            position=position,
            is_main=main,
        )
    product = type(product).objects.prefetch_related("images").get(pk=product.pk)
    assert product.main_image.alt_text == "p1"
    assert [i.alt_text for i in product.gallery] == ["p1", "p0", "p2"]
