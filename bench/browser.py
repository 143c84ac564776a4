"""A customer's way to the checkout, walked like a browser: product page, cart, checkout form."""

from bench.forms import delivery_fields, hidden_fields


def open_checkout(http, send, product, *, quantity: int = 1) -> dict[str, str]:
    """Put ``quantity`` of ``product`` in the cart and open the checkout; return its form to post.

    ``http`` is the customer's ``requests.Session`` (it keeps the cookies); ``send(method,
    path, expect=..., data=...)`` sends one request of the walk, the caller's way (one server
    or several, retried or not). The form holds the page's hidden fields and the CSRF token
    of the cookie and a delivery address with the first delivery method offered for it; the
    caller adds the email and the payment method.
    """
    send("GET", f"/products/{product.slug}/")
    csrf = http.cookies.get("csrftoken", "")
    send(
        "POST",
        "/cart/add/",
        data={"product_id": product.pk, "quantity": quantity, "csrfmiddlewaretoken": csrf},
    )
    page = send("GET", "/checkout/", expect=(200,))
    form = hidden_fields(page.text)
    form.update(delivery_fields(page.text))
    form["csrfmiddlewaretoken"] = csrf
    return form
