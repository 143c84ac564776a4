"""A customer and the owner in a real browser, at desktop and phone width.

Every page visited is checked for horizontal overflow (the page wider than the window) and
photographed into var/screenshots/ (tests/browser/storefront.py).
"""

import re
import secrets
from io import BytesIO

import pytest
from django.contrib.auth.models import Group, User
from PIL import Image
from playwright.sync_api import expect

from catalog.demo import load_demo_catalog
from catalog.models import Product
from catalog.permissions import CATALOG_GROUP
from orders.permissions import SUPPORT_GROUP
from tests.browser.storefront import WIDTHS, PageCheck

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=list(WIDTHS))
def sized_page(request, browser_page):
    width, height = WIDTHS[request.param]
    browser_page.set_viewport_size({"width": width, "height": height})
    return PageCheck(browser_page, request.node.originalname, request.param)


@pytest.fixture
def demo_catalog():
    load_demo_catalog()


def test_customer_walks_catalog_category_product_gallery_and_cart(sized_page, demo_catalog):
    check, page = sized_page, sized_page.page

    page.goto("/")
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    assert check.images_loaded(".products") == Product.objects.filter(is_active=True).count()
    check.check("catalog")

    page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Mugs & cups"
    ).click()
    expect(page).to_have_url(re.compile(r"/category/mugs-cups/$"))
    expect(page.get_by_role("heading", name="Mugs & cups", level=1)).to_be_visible()
    expect(page.locator(".products > article")).to_have_count(2)
    check.check("category")

    page.get_by_role("link", name="Enamel mug", exact=True).click()
    expect(page.get_by_role("heading", name="Enamel mug", level=1)).to_be_visible()
    main = page.get_by_test_id("gallery-main").locator("img")
    expect(main).to_have_attribute("alt", "Enamel mug on a plain background")
    assert check.images_loaded(".gallery") == 3  # the large picture and two thumbnails
    expect(page.locator(".description li")).to_have_count(3)  # the Markdown list
    check.check("product")

    page.get_by_role("link", name=re.compile(r"^Show picture 2")).click()
    expect(main).to_have_attribute("alt", "Enamel mug, close up")
    check.check("product-second-picture")

    page.get_by_label("Quantity").fill("2")
    page.get_by_test_id("add-enamel-mug").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.locator("#cart-link")).to_have_text("Cart (2)")
    line = page.get_by_test_id("line-enamel-mug")
    assert check.images_loaded('[data-testid="line-enamel-mug"]') == 1
    # Every control of the line is on screen, the "Remove" button too.
    remove = line.get_by_role("button", name="Remove Enamel mug from cart")
    box = remove.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    expect(page.locator("#cart-total")).to_have_text("€36.00")
    check.check("cart")

    page.get_by_role("link", name="Go to checkout").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    check.check("checkout")

    page.goto("/no-such-page/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("footer")).to_contain_text("hello@convergent-shop.example")
    check.check("not-found")


def _png(colour: str) -> bytes:
    out = BytesIO()
    Image.new("RGB", (800, 600), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def catalog_editor():
    """The shop owner's staff login: the Catalog and Support groups, no dj-stripe rights."""
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user("owen", "owen@example.com", password, is_staff=True)
    # The owner's everyday login: the catalog and the orders (so the admin index shows the
    # support boxes too), not a superuser.
    user.groups.add(*Group.objects.filter(name__in=[CATALOG_GROUP, SUPPORT_GROUP]))
    return user.username, password


def test_staff_adds_a_product_with_a_picture_and_sees_it_in_the_shop(
    sized_page, catalog_editor, demo_catalog
):
    check, page = sized_page, sized_page.page
    username, password = catalog_editor
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.get_by_role("link", name="Products", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Payments health")).to_be_visible()
    assert "Stripe mirror" not in page.locator("#content").inner_text()
    check.check("admin-index")

    page.get_by_role("link", name="Products", exact=True).click()
    expect(page.locator("#result_list img").first).to_be_visible()  # thumbnails in the list
    check.check("admin-products")

    page.goto("/admin/catalog/product/add/")
    page.locator("#id_name").press_sequentially("Walnut tray")  # keystrokes fill the slug
    expect(page.locator("#id_slug")).to_have_value("walnut-tray")  # filled in as typed
    page.select_option("#id_category", label="Paper goods")
    page.fill("#id_description", "Oiled walnut, **30 × 20 cm**.")
    page.fill("#id_price", "39.00")
    page.fill("#id_stock", "5")
    page.set_input_files(
        "#id_images-0-image",
        files=[{"name": "tray.png", "mimeType": "image/png", "buffer": _png("#6b4a2b")}],
    )
    page.fill("#id_images-0-alt_text", "A walnut tray seen from above")
    page.check("#id_images-0-is_main")
    check.check("admin-add-product")
    page.locator("input[name=_save]").first.click()
    expect(page.locator(".messagelist")).to_contain_text("Walnut tray")

    page.goto("/category/paper-goods/")
    card = page.get_by_test_id("card-walnut-tray")
    expect(card.get_by_role("link", name="Walnut tray")).to_be_visible()
    expect(card).to_contain_text("€39.00")
    assert check.images_loaded('[data-testid="card-walnut-tray"]') == 1
    check.check("shop-category-with-new-product")

    card.get_by_role("link", name="Walnut tray").click()
    expect(page.locator(".description strong")).to_have_text("30 × 20 cm")
    expect(page.get_by_test_id("gallery-main").locator("img")).to_have_attribute(
        "alt", "A walnut tray seen from above"
    )
    check.check("shop-new-product")
