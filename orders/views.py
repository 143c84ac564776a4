import secrets

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from orders import selectors, services
from orders.exceptions import CheckoutNotStarted, EmptyCart, OutOfStock
from orders.forms import CheckoutForm
from orders.models import OrderStatus
from shop.cart import Cart
from shop.exceptions import CartError

ISSUED_TOKENS_KEY = "checkout_tokens"
STOP_POLLING = 286  # htmx's "stop polling" status; our poller honours it too


def _issue_checkout_token(request) -> str:
    token = secrets.token_urlsafe(24)
    issued = request.session.get(ISSUED_TOKENS_KEY, [])[-9:] + [token]
    request.session[ISSUED_TOKENS_KEY] = issued
    return token


def _render_checkout(request, form, cart, status=200):
    return render(
        request,
        "orders/checkout.html",
        {
            "form": form,
            "lines": cart.lines(),
            "total": cart.total(),
            "currency": cart.currency(),
            "stripe_js_url": settings.STRIPE_JS_URL,
            "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        },
        status=status,
    )


def checkout(request):
    cart = Cart(request.session)
    if request.method != "POST":
        if not cart.lines():
            messages.info(request, "Your cart is empty.")
            return redirect("shop:cart")
        form = CheckoutForm(initial={"checkout_token": _issue_checkout_token(request)})
        return _render_checkout(request, form, cart)

    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _render_checkout(request, form, cart, status=400)
    token = form.cleaned_data["checkout_token"]
    if token not in request.session.get(ISSUED_TOKENS_KEY, []):
        messages.error(request, "This checkout form has expired. Nothing was charged; please try again.")
        return redirect("orders:checkout")
    lines = [services.LineRequest(line.product.pk, line.quantity) for line in cart.lines()]
    try:
        order = services.place_order(
            lines=lines,
            email=form.cleaned_data["email"],
            payment_method_id=form.cleaned_data["payment_method_id"],
            checkout_token=token,
        )
    except (EmptyCart, OutOfStock) as exc:
        messages.error(request, f"{exc} Nothing was charged.")
        return redirect("shop:cart")
    except CheckoutNotStarted:
        messages.error(
            request, "We could not start your payment. Nothing was charged; please try again."
        )
        return _render_checkout(request, form, cart, status=503)
    cart.clear()
    return redirect(order.get_absolute_url())


def _status_context(order):
    return {
        "order": order,
        "client_secret": services.client_secret_for(order),
        "lines": list(order.lines.all()),
        "waited_too_long": selectors.waited_too_long(order),
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }


def order_detail(request, token):
    order = selectors.order_for_customer(token)
    return render(request, "orders/detail.html", _status_context(order))


def order_status(request, token):
    """The fragment the pending page polls; answers 286 once the order is final."""
    order = selectors.order_for_customer(token)
    response = render(request, "orders/_status.html", _status_context(order))
    if order.status != OrderStatus.PAYMENT_STARTING:
        response.status_code = STOP_POLLING
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def order_authenticated(request, token):
    """The customer finished (or abandoned) 3-D Secure: read the PaymentIntent again."""
    order = selectors.order_for_customer(token)
    if order.is_pending:
        services.drive_payment(order.pk, cause="customer:3ds_complete")
    return redirect(order.get_absolute_url())


@require_POST
def order_try_again(request, token) -> HttpResponse:
    """Put a failed order's lines back in the cart and go to checkout."""
    order = selectors.order_for_customer(token)
    if order.status not in (OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELED):
        return redirect(order.get_absolute_url())
    cart = Cart(request.session)
    cart.clear()
    for line in order.lines.select_related("product"):
        try:
            cart.add(product=line.product, quantity=line.quantity)
        except CartError as exc:
            messages.warning(request, str(exc))
    return redirect("orders:checkout" if cart.count() else "shop:cart")
