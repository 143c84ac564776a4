"""The catalog pages and the demo catalog command."""

import pytest
from django.core.management import call_command

from catalog.demo import DEMO_PRODUCTS
from catalog.models import Product

pytestmark = pytest.mark.django_db


def test_product_list_shows_active_products_with_price_and_stock(client, make_product):
    make_product(name="Enamel mug", price=1800, stock=4)
    make_product(name="Retired kettle", is_active=False)
    make_product(name="Sold-out tote", stock=0)

    response = client.get("/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Enamel mug" in page and "€18.00" in page and "4 in stock" in page
    assert "Retired kettle" not in page
    assert "Sold-out tote" in page and "out of stock" in page


def test_product_detail_shows_the_product_and_an_add_to_cart_form(client, make_product):
    product = make_product(name="Field notebook", description="Dot grid.", price=900, stock=3)

    response = client.get(product.get_absolute_url())

    page = response.content.decode()
    assert "Field notebook" in page and "Dot grid." in page and "€9.00" in page
    assert 'name="quantity"' in page and '<label for="quantity">' in page


def test_sold_out_product_has_no_add_to_cart_form(client, make_product):
    product = make_product(stock=0)
    page = client.get(product.get_absolute_url()).content.decode()
    assert "sold out" in page
    assert 'action="/cart/add/"' not in page


@pytest.mark.parametrize("path", ["/products/no-such-thing/", "/products/%00/", "/nowhere/"])
def test_unknown_pages_are_a_friendly_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_withdrawn_product_page_is_a_404(client, make_product):
    product = make_product(is_active=False)
    assert client.get(product.get_absolute_url()).status_code == 404


def test_demo_catalog_command_is_idempotent_and_keeps_stock_and_prices(capsys):
    call_command("load_demo_catalog")
    assert Product.objects.count() == len(DEMO_PRODUCTS)
    mug = Product.objects.get(slug="enamel-mug")
    mug.stock = 3
    mug.save()

    call_command("load_demo_catalog")

    assert Product.objects.count() == len(DEMO_PRODUCTS)
    mug.refresh_from_db()
    assert mug.stock == 3
    assert f"0 products created, {len(DEMO_PRODUCTS)} already there" in capsys.readouterr().out


def test_server_error_page_needs_no_database_and_says_not_to_pay_again(rf):
    from shop.views import server_error

    response = server_error(rf.get("/checkout/"))

    assert response.status_code == 500
    assert "please do not start a new payment" in response.content.decode()


def test_a_category_page_lists_its_active_products_only(client, make_product):
    from catalog.models import Category

    mugs = Category.objects.create(name="Mugs & cups", slug="mugs-cups")
    make_product(name="Enamel mug", category=mugs)
    make_product(name="Retired mug", category=mugs, is_active=False)
    make_product(name="Field notebook")

    page = client.get("/category/mugs-cups/").content.decode()

    assert "Enamel mug" in page
    assert "Retired mug" not in page and "Field notebook" not in page
    assert client.get("/category/no-such-shelf/").status_code == 404


def test_the_header_lists_categories_with_products_and_the_footer_the_shops_details(
    client, make_product, settings
):
    from catalog.models import Category

    settings.SHOP_EMAIL = "shop@example.com"
    settings.SHOP_PHONE = "+32 2 123 45 67"
    make_product(category=Category.objects.create(name="Tea", slug="tea"))
    Category.objects.create(name="Empty shelf", slug="empty")

    page = client.get("/").content.decode()

    assert 'href="/category/tea/"' in page and "Empty shelf" not in page
    assert 'href="mailto:shop@example.com"' in page and 'href="tel:+3221234567"' in page
    for path in ("/pages/terms/", "/pages/privacy/", "/pages/returns/", "/contact/"):
        assert f'href="{path}"' in page


def test_the_error_pages_have_the_shops_layout_without_a_request_context(rf, settings):
    from shop.views import bad_request, server_error

    settings.SHOP_NAME = "Harbour Goods"
    for response in (server_error(rf.get("/")), bad_request(rf.get("/"), None)):
        page = response.content.decode()
        assert "Harbour Goods" in page and "shop/shop.css" in page


def test_a_picture_can_be_chosen_in_the_gallery_and_a_bad_choice_shows_the_main_one(
    client, make_product
):
    from io import BytesIO

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from catalog.models import ProductImage

    product = make_product()
    images = []
    for n, main in ((1, True), (2, False)):
        out = BytesIO()
        Image.new("RGB", (300, 300), "#123456").save(out, format="PNG")
        images.append(
            ProductImage.objects.create(
                product=product,
                image=SimpleUploadedFile(f"p{n}.png", out.getvalue()),
                alt_text=f"Picture {n}",
                is_main=main,
            )
        )

    def large_alt(query):
        page = client.get(product.get_absolute_url(), query).content.decode()
        return page.split('data-testid="gallery-main"', 1)[1].split('alt="', 1)[1].split('"', 1)[0]

    assert large_alt({}) == "Picture 1"
    assert large_alt({"picture": images[1].pk}) == "Picture 2"
    assert large_alt({"picture": "nonsense"}) == "Picture 1"


def test_an_older_demo_catalogs_test_product_is_renamed_to_a_real_one_keeping_its_stock():
    Product.objects.create(
        slug="last-one", name="The last one", description="A test of stock limits.", price=9900
    )

    call_command("load_demo_catalog")

    teapot = Product.objects.get(slug="studio-teapot")
    assert teapot.name == "Hand-thrown teapot" and teapot.stock == 0
    assert not Product.objects.filter(slug="last-one").exists()
    assert teapot.images.filter(is_main=True).count() == 1
