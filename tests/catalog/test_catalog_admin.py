"""The owner's catalog in the admin, and dj-stripe's mirror kept from staff who do not need it."""

from io import BytesIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Category, Product, ProductImage
from catalog.permissions import CATALOG_GROUP

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog_editor(client):
    user = User.objects.create_user("owen", "owen@example.com", "pass-owen-123", is_staff=True)
    user.groups.add(Group.objects.get(name=CATALOG_GROUP))
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "pass-root-123")
    client.force_login(user)
    return client


def png(colour="#336699") -> bytes:
    out = BytesIO()
    Image.new("RGB", (400, 300), colour).save(out, format="PNG")
    return out.getvalue()


def product_form(**overrides) -> dict:
    data = {
        "name": "Walnut tray",
        "slug": "walnut-tray",
        "category": "",
        "description": "Oiled walnut.",
        "price": "39.90",
        "currency": "eur",
        "stock": "5",
        "is_active": "on",
        "images-TOTAL_FORMS": "2",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        "images-0-alt_text": "From above",
        "images-0-is_main": "on",
        "images-0-position": "0",
        "images-1-alt_text": "",
        "images-1-position": "0",  # as rendered: an untouched extra form
    }
    data.update(overrides)
    return data


def test_staff_adds_a_product_with_a_picture_and_a_price_in_euros(catalog_editor):
    response = catalog_editor.post(
        "/admin/catalog/product/add/",
        {**product_form(), "images-0-image": SimpleUploadedFile("tray.png", png())},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    product = Product.objects.get(slug="walnut-tray")
    assert product.price == 3990
    image = product.images.get()
    assert image.is_main and image.alt_text == "From above" and image.thumbnail


def test_a_file_that_is_not_a_picture_is_refused_with_a_message_and_nothing_is_saved(
    catalog_editor,
):
    response = catalog_editor.post(
        "/admin/catalog/product/add/",
        {**product_form(), "images-0-image": SimpleUploadedFile("tray.png", b"not a png" * 50)},
    )

    assert response.status_code == 200
    assert "Upload a valid image" in response.content.decode()
    assert not Product.objects.exists() and not ProductImage.objects.exists()


def test_two_main_pictures_are_refused_and_nothing_is_saved(catalog_editor):
    response = catalog_editor.post(
        "/admin/catalog/product/add/",
        {
            **product_form(),
            "images-0-image": SimpleUploadedFile("a.png", png()),
            "images-1-image": SimpleUploadedFile("b.png", png("#aa0000")),
            "images-1-alt_text": "Side",
            "images-1-position": "1",
            "images-1-is_main": "on",
        },
    )

    assert response.status_code == 200
    assert "Choose one main picture only." in response.content.decode()
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    "price, message",
    [("0", "greater than or equal to 0.01"), ("12.345", "euros and cents"), ("abc", "a number")],
)
def test_a_bad_price_is_refused_with_a_message(catalog_editor, price, message):
    response = catalog_editor.post("/admin/catalog/product/add/", product_form(price=price))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Product.objects.exists()


def test_the_product_list_shows_thumbnails_and_searches_by_name(catalog_editor, make_product):
    mug = make_product(name="Enamel mug", category=Category.objects.create(name="Mugs", slug="m"))
    make_product(name="Linen journal")
    ProductImage.objects.create(
        product=mug, image=SimpleUploadedFile("mug.png", png()), alt_text="A mug"
    )

    page = catalog_editor.get("/admin/catalog/product/", {"q": "enamel"}).content.decode()

    assert "Enamel mug" in page and "Linen journal" not in page
    assert 'alt="A mug"' in page and "-thumbnail.webp" in page


def test_staff_without_stripe_permissions_neither_see_nor_reach_the_stripe_mirror(
    catalog_editor,
):
    index = catalog_editor.get("/admin/").content.decode()
    assert "/admin/catalog/product/" in index
    assert "djstripe" not in index and "Stripe mirror" not in index
    assert catalog_editor.get("/admin/djstripe/").status_code == 404
    assert catalog_editor.get("/admin/djstripe/paymentintent/").status_code == 403


def test_superusers_get_one_link_to_the_stripe_mirror_instead_of_its_models_on_the_index(
    superuser_client,
):
    index = superuser_client.get("/admin/").content.decode()
    assert "/admin/catalog/product/" in index
    assert "/admin/djstripe/paymentintent/" not in index  # not among the shop's models
    assert 'href="/admin/djstripe/">Stripe mirror (dj-stripe)</a>' in index
    mirror = superuser_client.get("/admin/djstripe/").content.decode()
    assert "/admin/djstripe/paymentintent/" in mirror


def test_the_catalog_group_holds_exactly_the_catalog_rights():
    group = Group.objects.get(name=CATALOG_GROUP)
    rights = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert rights == {
        ("catalog", f"{action}_{model}")
        for action in ("add", "change", "delete", "view")
        for model in ("product", "productimage", "category")
    }


def test_a_picture_named_like_a_web_page_is_refused(catalog_editor):
    response = catalog_editor.post(
        "/admin/catalog/product/add/",
        {**product_form(), "images-0-image": SimpleUploadedFile("page.html", png())},
    )
    assert response.status_code == 200
    assert "File extension “html” is not allowed" in response.content.decode()
    assert not Product.objects.exists()


def change_form(product, **overrides) -> dict:
    """The product's change form as it was drawn (stock_seen: the stock shown then)."""
    drawn = {
        "name": product.name,
        "slug": product.slug,
        "price": f"{product.price / 100:.2f}",
        "stock": str(product.stock),
        "stock_seen": str(product.stock),
        "images-TOTAL_FORMS": "0",
    }
    return product_form(**{**drawn, **overrides})


def test_units_sold_while_staff_edit_a_product_stay_sold(catalog_editor, make_product):
    from catalog.stock import reserve

    product = make_product(name="Enamel mug", stock=10)
    drawn = change_form(product, name="Enamel camp mug")  # staff open the page: 10 in stock
    assert reserve(product, 3)  # a customer checks out meanwhile: 7 left

    response = catalog_editor.post(f"/admin/catalog/product/{product.pk}/change/", drawn)

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.name == "Enamel camp mug" and product.stock == 7


def test_a_restock_typed_by_staff_is_added_to_what_is_left_after_sales(
    catalog_editor, make_product
):
    from catalog.stock import reserve

    product = make_product(stock=10)
    drawn = change_form(product, stock="15")  # five more arrived
    assert reserve(product, 3)

    response = catalog_editor.post(
        f"/admin/catalog/product/{product.pk}/change/", drawn, follow=True
    )

    product.refresh_from_db()
    assert product.stock == 12
    assert "is now 12: your change of +5 was applied" in response.content.decode()


def test_taking_off_more_than_is_left_after_sales_changes_no_stock_and_says_so(
    catalog_editor, make_product
):
    from catalog.stock import reserve

    product = make_product(stock=4)
    drawn = change_form(product, stock="1")  # staff count three broken ones out
    assert reserve(product, 2)  # two sold meanwhile: 2 left, 3 cannot come off

    response = catalog_editor.post(
        f"/admin/catalog/product/{product.pk}/change/", drawn, follow=True
    )

    product.refresh_from_db()
    assert product.stock == 2
    assert "was not changed: it is 2 now" in response.content.decode()


def test_a_negative_stock_is_refused_with_a_message(catalog_editor):
    response = catalog_editor.post("/admin/catalog/product/add/", product_form(stock="-3"))
    assert "Stock cannot be below zero." in response.content.decode()
    assert not Product.objects.exists()
