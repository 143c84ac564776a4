"""The session cart through its views: every refused change says why and changes nothing."""

import pytest
from django.contrib.messages import get_messages

pytestmark = pytest.mark.django_db


def cart_of(client) -> dict:
    return dict(client.session.get("cart", {}))


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def add(client, product_id, quantity="1", **extra):
    return client.post("/cart/add/", {"product_id": product_id, "quantity": quantity, **extra})


def put_in_cart(client, product, quantity=1):
    """Set the scene: add through the view, then read the cart page (which shows its message)."""
    add(client, product.pk, str(quantity))
    client.get("/cart/")


@pytest.fixture
def mug(make_product):
    return make_product(name="Enamel mug", price=1800, stock=5)


def test_adding_a_product_puts_it_in_the_cart_and_says_so(client, mug):
    response = add(client, mug.pk, "2")

    assert response.status_code == 302 and response.url == "/cart/"
    assert cart_of(client) == {str(mug.pk): 2}
    assert messages_of(response) == ["Added 2 × Enamel mug to your cart."]
    page = client.get("/cart/").content.decode()
    assert "Enamel mug" in page and "€36.00" in page and "Cart (2)" in page


def test_cart_total_comes_from_the_database_never_from_the_form(client, mug):
    add(client, mug.pk, "2", price="1", total="1", unit_price="1", amount="1")
    mug.price = 2000  # the shop changed its price since
    mug.save()

    response = client.get("/cart/")

    assert response.context["total"] == 4000
    assert "€40.00" in response.content.decode()


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("-1", "Quantity cannot be negative."),
        ("0", "Quantity must be at least 1."),
        ("", "Please enter a quantity."),
        ("abc", "Please enter a whole number for the quantity."),
        ("1.5", "Please enter a whole number for the quantity."),
        ("1e3", "Please enter a whole number for the quantity."),
        ("21", "You can order at most 20 of one item."),
        ("99999999999999999999999999", "That quantity is far more than we could ever ship."),
    ],
)
def test_bad_quantity_is_refused_with_a_clear_message_and_changes_nothing(
    client, mug, quantity, message
):
    put_in_cart(client, mug, 1)

    response = add(client, mug.pk, quantity)

    assert cart_of(client) == {str(mug.pk): 1}
    assert messages_of(response) == [message]
    assert response.status_code == 302 and response.url == mug.get_absolute_url()


@pytest.mark.parametrize(
    "product_id", ["", "abc", "0", "-3", "999999", "9" * 40, "²", "1 OR 1=1", "1.0.0"]
)
def test_unknown_or_malformed_product_id_is_refused_and_changes_nothing(client, mug, product_id):
    put_in_cart(client, mug, 1)

    response = add(client, product_id, "1")

    assert cart_of(client) == {str(mug.pk): 1}
    [message] = messages_of(response)
    assert message in ("That product does not exist.", "Please choose a product.")
    assert response.status_code == 302


def test_out_of_stock_product_cannot_be_added(client, make_product):
    sold_out = make_product(name="Canvas tote", stock=0)

    response = add(client, sold_out.pk, "1")

    assert cart_of(client) == {}
    assert messages_of(response) == ["Sorry, Canvas tote is out of stock."]


def test_more_than_the_stock_is_refused_and_counts_what_the_cart_already_holds(client, mug):
    assert messages_of(add(client, mug.pk, "6")) == ["Only 5 of Enamel mug left in stock."]
    put_in_cart(client, mug, 4)

    response = add(client, mug.pk, "2")

    assert cart_of(client) == {str(mug.pk): 4}
    assert messages_of(response) == [
        "Only 5 of Enamel mug left in stock. Your cart already holds 4."
    ]


def test_withdrawn_product_cannot_be_added(client, make_product):
    product = make_product(name="Old kettle", is_active=False)
    response = add(client, product.pk, "1")
    assert cart_of(client) == {}
    assert messages_of(response) == ["Sorry, Old kettle is no longer sold."]
    assert response.url == "/"


def test_products_in_two_currencies_cannot_share_a_cart(client, mug, make_product):
    dollars = make_product(name="Yankee mug", currency="usd")
    put_in_cart(client, mug, 1)

    response = add(client, dollars.pk, "1")

    assert cart_of(client) == {str(mug.pk): 1}
    assert messages_of(response) == ["A cart can only hold products in one currency."]


def test_changing_the_quantity_recomputes_the_total(client, mug):
    put_in_cart(client, mug, 1)

    response = client.post("/cart/update/", {"product_id": mug.pk, "quantity": "3"})

    assert cart_of(client) == {str(mug.pk): 3}
    assert messages_of(response) == ["You now have 3 × Enamel mug in your cart."]
    assert client.get("/cart/").context["total"] == 5400


def test_changing_the_quantity_to_zero_removes_the_line(client, mug):
    put_in_cart(client, mug, 2)
    client.post("/cart/update/", {"product_id": mug.pk, "quantity": "0"})
    assert cart_of(client) == {}


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("-2", "Quantity cannot be negative."),
        ("6", "Only 5 of Enamel mug left in stock."),
        ("1000001", "That quantity is far more than we could ever ship."),
        ("two", "Please enter a whole number for the quantity."),
    ],
)
def test_bad_quantity_change_is_refused_and_changes_nothing(client, mug, quantity, message):
    put_in_cart(client, mug, 2)

    response = client.post("/cart/update/", {"product_id": mug.pk, "quantity": quantity})

    assert cart_of(client) == {str(mug.pk): 2}
    assert messages_of(response) == [message]
    assert response.url == "/cart/"


def test_removing_a_line(client, mug, make_product):
    other = make_product(name="Notebook")
    put_in_cart(client, mug, 2)
    put_in_cart(client, other, 1)

    response = client.post("/cart/remove/", {"product_id": mug.pk})

    assert cart_of(client) == {str(other.pk): 1}
    assert messages_of(response) == ["Removed Enamel mug from your cart."]


def test_removing_an_unknown_product_says_so_and_changes_nothing(client, mug):
    put_in_cart(client, mug, 2)
    response = client.post("/cart/remove/", {"product_id": "424242"})
    assert cart_of(client) == {str(mug.pk): 2}
    assert messages_of(response) == ["That product does not exist."]


@pytest.mark.parametrize("path", ["/cart/add/", "/cart/update/", "/cart/remove/"])
def test_cart_changes_only_accept_post(client, path):
    assert client.get(path).status_code == 405


def test_cart_page_drops_withdrawn_products_and_warns_about_stock_sold_since(
    client, mug, make_product
):
    kettle = make_product(name="Kettle", stock=2)
    put_in_cart(client, mug, 3)
    put_in_cart(client, kettle, 1)
    kettle.is_active = False
    kettle.save()
    mug.stock = 2
    mug.save()

    response = client.get("/cart/")

    page = response.content.decode()
    assert [line.product.pk for line in response.context["lines"]] == [mug.pk]
    assert "Only 2 of Enamel mug left in stock; please lower the quantity." in page
    assert "Cart (3)" in page


def test_empty_cart_page_invites_to_browse(client):
    page = client.get("/cart/").content.decode()
    assert "Your cart is empty" in page
    assert "checkout-link" not in page


@pytest.mark.django_db(transaction=True)  # autocommit, as in a request
def test_a_session_change_is_saved_in_one_statement(client, make_product):
    """shop.sessions: an existing session is updated by one UPDATE, with no transaction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    product = make_product(stock=5)
    client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})  # creates the session
    with CaptureQueriesContext(connection) as captured:
        client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
    writes = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith('UPDATE "django_session"'), writes
    assert client.session["cart"] == {str(product.pk): 2}


@pytest.mark.django_db(transaction=True)  # autocommit, as in a request
def test_a_session_deleted_while_in_use_is_not_silently_recreated():
    """Deleted between load and save (logged out elsewhere): the save fails as Django's would."""
    from django.contrib.sessions.backends.base import UpdateError
    from django.contrib.sessions.models import Session

    from shop.sessions import SessionStore

    store = SessionStore()
    store["cart"] = {"1": 1}
    store.create()
    Session.objects.filter(session_key=store.session_key).delete()
    store["cart"] = {"1": 2}
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.exists()
