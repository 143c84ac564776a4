"""The customer's checkout and order pages.

The checkout form carries a one-time token issued into the session. The token names the
order it creates, so a double click, a reload of the POST or a second tab submitting the
same form all land on the same order and the same PaymentIntent (``place_order`` is
idempotent on it); a token this session was never given is refused and charges nothing.
"""

import secrets

from django.conf import settings
from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.cart import Cart
from catalog.exceptions import CartError
from catalog.templatetags.money import money
from orders import checkout as checkout_service
from orders import policy, pricing, selectors
from orders.exceptions import CheckoutNotStarted, EmptyCart, OutOfStock, ShippingUnavailable
from orders.forms import CheckoutForm
from orders.models import OrderStatus
from orders.payment import driver
from ratelimits.limits import rate_limited
from stripe_gateway import budget

ISSUED_TOKENS_KEY = "checkout_tokens"
# Tokens whose order this session has seen placed (and its cart emptied for).
PLACED_TOKENS_KEY = "checkout_tokens_placed"
ISSUED_TOKENS_KEPT = 10  # enough for a few tabs; older forms are "expired"
# What the customer typed in the delivery fields, kept for a returning tab (never the card).
DETAILS_KEY = "checkout_details"
STOP_POLLING = 286  # htmx's "stop polling" status; our poller honours it too


def _issue_checkout_token(request) -> str:
    token = secrets.token_urlsafe(24)
    issued = request.session.get(ISSUED_TOKENS_KEY, [])[-(ISSUED_TOKENS_KEPT - 1) :] + [token]
    request.session[ISSUED_TOKENS_KEY] = issued
    return token


def _settle_placed(request, cart: Cart, token: str) -> None:
    """The order of ``token`` is placed: empty the cart and remember it, in one session save.

    Once only: a form resubmitted later (a second tab, a reload) leaves the cart the
    customer has filled since alone, and needs no session save, which keeps the reload
    working while the database is failing.
    """
    placed = request.session.get(PLACED_TOKENS_KEY, [])
    if token in placed:
        return
    cart.clear()
    request.session[PLACED_TOKENS_KEY] = placed[-(ISSUED_TOKENS_KEPT - 1) :] + [token]


def _order_placed_unseen(request):
    """An order placed from this session whose page the customer never got to.

    If the database failed after the order was recorded but before the session (with its
    emptied cart) was saved, the customer was shown an error and still has a full cart: the
    order of a token issued but never marked placed is that order.
    """
    placed = set(request.session.get(PLACED_TOKENS_KEY, []))
    waiting = [t for t in request.session.get(ISSUED_TOKENS_KEY, []) if t not in placed]
    return selectors.latest_order_for_checkout_tokens(waiting) if waiting else None


def _token_was_issued(request, token: str) -> bool:
    issued = request.session.get(ISSUED_TOKENS_KEY, [])
    return any(secrets.compare_digest(token, candidate) for candidate in issued)


def _quote_for(cart: Cart, country, method_id) -> pricing.Quote | None:
    """The figures of this cart sent to ``country`` by ``method_id``, if that is a valid pick."""
    try:
        method_id = int(method_id)
    except (TypeError, ValueError):
        return None
    if not isinstance(country, str) or not country or not cart.lines():
        return None
    try:
        return pricing.quote(
            goods=cart.total(),
            currency=cart.currency(),
            country=country,
            shipping_method_id=method_id,
        )
    except ShippingUnavailable:
        return None


def _shipping_options(form, cart: Cart) -> list[dict]:
    goods = cart.total()
    return [
        {
            "id": method.pk,
            "name": method.name,
            "zone": method.zone.name,
            "countries": " ".join(method.zone.country_codes),
            "price": method.price_for(goods),
            "estimate": method.delivery_estimate,
            "currency": method.currency,
        }
        for method in form.methods
        if method.currency == cart.currency()
    ]


def _render_checkout(request, form, cart, status=200):
    quote = _quote_for(cart, form["country"].value(), form["shipping_method"].value())
    return render(
        request,
        "orders/checkout.html",
        {
            "form": form,
            "checkout_token": form["checkout_token"].value(),
            "cart_signature": cart.signature(),
            "lines": cart.lines(),
            "goods": cart.total(),
            "quote": quote,
            "total": quote.total if quote else cart.total(),
            "currency": cart.currency(),
            "shipping_options": _shipping_options(form, cart),
            "stripe_js_url": settings.STRIPE_JS_URL,
            "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        },
        status=status,
    )


def _remember_details(request, form: CheckoutForm) -> None:
    """Keep what was typed for a returning tab (each POST, refused or not)."""
    details = form.remembered()
    if details and request.session.get(DETAILS_KEY) != details:
        request.session[DETAILS_KEY] = details


@never_cache
@require_http_methods(["GET", "POST"])
@rate_limited("checkout")  # per client and per email (settings.RATE_LIMITS): card testing
@budget.work_class(budget.CHECKOUT)
def checkout(request):
    cart = Cart(request.session)
    if request.method != "POST":
        if (unseen := _order_placed_unseen(request)) is not None:
            _settle_placed(request, cart, unseen.checkout_token)
            messages.info(
                request,
                f"Your order {unseen.reference} was already placed: please do not pay again. "
                "Its page below always shows where your payment stands.",
            )
            return redirect(unseen.get_absolute_url())
        if not cart.lines():
            messages.info(request, "Your cart is empty.")
            return redirect("shop:cart")
        if problems := cart.problems():
            for problem in problems:
                messages.error(request, problem)
            return redirect("shop:cart")
        remembered = request.session.get(DETAILS_KEY)
        initial = dict(remembered) if isinstance(remembered, dict) else {}
        initial["checkout_token"] = _issue_checkout_token(request)
        form = CheckoutForm(initial=initial)
        return _render_checkout(request, form, cart)

    form = CheckoutForm(request.POST)
    token = form.checkout_token_or_none()
    if token is None or not _token_was_issued(request, token):
        messages.error(
            request, "This checkout form has expired. Nothing was charged; please try again."
        )
        return redirect("orders:checkout")

    # The same form again (double click, reload, second tab): the order it made, never a new one.
    existing = selectors.order_for_checkout_token(token)
    if existing is not None:
        if existing.is_pending:
            try:
                driver.drive_payment(existing.pk, cause="checkout_retry")
            except DatabaseError:
                pass  # the order's own page says where it stands once the database is back
        _settle_placed(request, cart, token)
        return redirect(existing.get_absolute_url())

    if not cart.lines():
        messages.info(request, "Your cart is empty. Nothing was charged.")
        return redirect("shop:cart")
    _remember_details(request, form)
    if not form.is_valid():
        return _render_checkout(request, form, cart, status=400)
    if form.cleaned_data["cart_signature"] != cart.signature():
        messages.warning(
            request,
            "Your cart or its prices changed since this page was opened. Nothing was charged; "
            "please check the total and pay again.",
        )
        return _render_checkout(request, form, cart, status=409)
    data = form.cleaned_data
    shown = data.get("shown_total")
    if shown is not None:
        quote = _quote_for(cart, data["country"], data["shipping_method"])
        if quote is None or quote.total != shown:
            messages.warning(
                request,
                "The delivery price changed since this page was opened. Nothing was charged; "
                "please check the total and pay again.",
            )
            return _render_checkout(request, form, cart, status=409)
    lines = [checkout_service.LineRequest(line.product.pk, line.quantity) for line in cart.lines()]
    delivery = checkout_service.Delivery(
        full_name=data["full_name"],
        address_line1=data["address_line1"],
        address_line2=data["address_line2"],
        city=data["city"],
        postal_code=data["postal_code"],
        country=data["country"],
        shipping_method_id=data["shipping_method"],
    )
    try:
        order = checkout_service.place_order(
            lines=lines,
            email=data["email"],
            delivery=delivery,
            payment_method_id=data["payment_method_id"],
            checkout_token=token,
        )
    except ShippingUnavailable as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return _render_checkout(request, form, cart, status=409)
    except (EmptyCart, OutOfStock) as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return redirect("shop:cart")
    except CheckoutNotStarted:
        messages.error(
            request, "We could not start your payment. Nothing was charged; please try again."
        )
        return _render_checkout(request, form, cart, status=503)
    _settle_placed(request, cart, token)
    return redirect(order.get_absolute_url())


@never_cache
@require_GET
def checkout_quote(request):
    """The server's figures for this cart, country and delivery method, for the checkout page."""
    cart = Cart(request.session)
    quote = _quote_for(cart, request.GET.get("country"), request.GET.get("shipping_method"))
    if quote is None:
        return JsonResponse({"error": "That delivery method does not deliver there."}, status=400)
    currency = cart.currency()
    return JsonResponse(
        {
            "total": quote.total,
            "shipping": quote.shipping,
            "vat": quote.vat,
            "vat_percent": quote.vat_percent,
            "shipping_method": quote.shipping_method_name,
            "display": {
                "total": money(quote.total, currency),
                "shipping": money(quote.shipping, currency) if quote.shipping else "Free",
                "vat": money(quote.vat, currency),
            },
        }
    )


def _status_context(order, *, for_poller: bool = False):
    return {
        "order": order,
        # Only the full page runs Stripe.js (the poller reloads the page to get there), so
        # the poller never costs a Stripe call.
        "client_secret": "" if for_poller else selectors.client_secret_for(order),
        "lines": order.lines.all(),  # read only by a template that lists them (not the poller's)
        "waited_too_long": policy.waited_too_long(order),
        "failure_reason": (
            selectors.failure_reason_for_customer(order)
            if order.status == OrderStatus.PAYMENT_FAILED
            else ""
        ),
        "refund_in_progress": (selectors.refund_in_progress(order) if not order.is_pending else 0),
        "own_refund_in_progress": (
            selectors.own_refund_in_progress(order) if order.status == OrderStatus.PAID else 0
        ),
        "refunds": selectors.refunds_for_customer(order) if order.refunded_amount else [],
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }


def _private(response: HttpResponse) -> HttpResponse:
    # The page names the customer's email and is reached by a secret link: keep it out of
    # shared caches and search engines.
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_GET
@budget.work_class(budget.CHECKOUT)  # the 3-D Secure page reads the client secret
def order_detail(request, token):
    order = selectors.order_for_customer(token)
    return _private(render(request, "orders/detail.html", _status_context(order)))


@require_GET
def order_status(request, token):
    """The fragment the order page polls; answers 286 ("stop polling") once the order is final."""
    order = selectors.order_for_customer(token)
    response = render(request, "orders/_status.html", _status_context(order, for_poller=True))
    if not order.is_pending:
        response.status_code = STOP_POLLING
    return _private(response)


@require_POST
@budget.work_class(budget.CHECKOUT)
def order_authenticated(request, token):
    """The customer finished (or abandoned) 3-D Secure: read the PaymentIntent again."""
    order = selectors.order_for_customer(token)
    if order.is_pending:
        driver.drive_payment(order.pk, cause="customer:3ds_complete")
    return redirect(order.get_absolute_url())


@require_POST
def order_try_again(request, token) -> HttpResponse:
    """Put a failed order's lines back in the cart and go to checkout.

    Only for an order whose payment can no longer succeed: a pending one is never retried
    with a second payment.
    """
    order = selectors.order_for_customer(token)
    if order.status not in (OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELED):
        if order.is_pending:
            messages.info(
                request, "Your payment is still being confirmed; please do not pay again."
            )
        return redirect(order.get_absolute_url())
    cart = Cart(request.session)
    cart.clear()
    for line in order.lines.select_related("product"):
        try:
            cart.add(product=line.product, quantity=line.quantity)
        except CartError as exc:
            messages.warning(request, str(exc))
    if not cart.count():
        messages.error(request, "None of the products of this order can be bought now.")
        return redirect("shop:cart")
    messages.info(request, "Your items are back in your cart: pay with another card below.")
    return redirect("orders:checkout")
