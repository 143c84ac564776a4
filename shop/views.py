"""Catalog and cart pages: parse the input, change the session cart, say what happened.

A refused change (bad number, unknown product, not enough stock) leaves the cart exactly as
it was and tells the customer why; totals are always recomputed from the database.
"""

from django.conf import settings
from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpResponseBadRequest, HttpResponseServerError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST
from django.views.static import serve

from catalog.cart import Cart
from catalog.exceptions import CartError
from catalog.models import Category
from catalog.selectors import shop_window
from ratelimits.limits import rate_limited
from shop import contact
from shop.forms import CartChangeForm, ContactForm


def product_list(request):
    return render(request, "shop/product_list.html", {"products": shop_window()})


def category_detail(request, slug):
    category = get_object_or_404(Category, slug=slug)
    return render(
        request,
        "shop/product_list.html",
        {"products": shop_window(category=category), "current_category": category},
    )


def product_detail(request, slug):
    product = get_object_or_404(shop_window(), slug=slug)
    # ?picture=<id> picks the gallery's large picture; anything else shows the main one.
    wanted = request.GET.get("picture", "")
    shown = next((i for i in product.gallery if str(i.pk) == wanted), product.main_image)
    cart = Cart(request.session)
    return render(
        request,
        "shop/product_detail.html",
        {
            "product": product,
            "shown_image": shown,
            "in_cart": cart.quantity_of(product.pk),
            "current_category": product.category,
        },
    )


def _back_to_product(form: CartChangeForm):
    product = getattr(form, "product", None)
    if product is not None and product.is_active:
        return redirect(product)
    return redirect("shop:product_list")


@require_POST
def cart_add(request):
    form = CartChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.first_error())
        return _back_to_product(form)
    product, quantity = form.product, form.cleaned_data["quantity"]
    try:
        Cart(request.session).add(product=product, quantity=quantity)
    except CartError as exc:
        messages.error(request, str(exc))
        return _back_to_product(form)
    messages.success(request, f"Added {quantity} × {product.name} to your cart.")
    return redirect("shop:cart")


@require_POST
def cart_update(request):
    form = CartChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.first_error())
        return redirect("shop:cart")
    product, quantity = form.product, form.cleaned_data["quantity"]
    try:
        Cart(request.session).set_quantity(product=product, quantity=quantity)
    except CartError as exc:
        messages.error(request, str(exc))
        return redirect("shop:cart")
    if quantity:
        messages.success(request, f"You now have {quantity} × {product.name} in your cart.")
    else:
        messages.success(request, f"Removed {product.name} from your cart.")
    return redirect("shop:cart")


@require_POST
def cart_remove(request):
    form = CartChangeForm(request.POST, require_quantity=False)
    if not form.is_valid():
        messages.error(request, form.first_error())
        return redirect("shop:cart")
    Cart(request.session).remove(product=form.product)
    messages.success(request, f"Removed {form.product.name} from your cart.")
    return redirect("shop:cart")


def cart_detail(request):
    cart = Cart(request.session)
    lines = cart.lines()
    # The pictures for this page only: the checkout reads the cart too and needs none.
    prefetch_related_objects([line.product for line in lines], "images")
    return render(
        request,
        "shop/cart.html",
        {
            "lines": lines,
            "total": cart.total(),
            "currency": cart.currency(),
            "problems": cart.problems(),
        },
    )


def media(request, path):
    """An uploaded picture from MEDIA_ROOT (Django's static.serve keeps the path inside it)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


def contact_page(request):
    """The contact form; its POST goes through ``contact_submit`` alone (rate limited there)."""
    if request.method == "POST":
        return contact_submit(request)
    return render(request, "shop/contact.html", {"form": ContactForm()})


@rate_limited("contact")  # per client and per email (settings.RATE_LIMITS): no mail bombing
def contact_submit(request):
    """Take one contact form submission: keep it and email the shop, or say what is wrong."""
    form = ContactForm(request.POST)
    if not form.is_valid():
        return render(request, "shop/contact.html", {"form": form}, status=400)
    if not form.is_spam:  # a bot gets the same thanks, and nothing is kept or sent
        contact.submit_contact_message(
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            message=form.cleaned_data["message"],
        )
    return redirect("shop:contact_thanks")


def contact_thanks(request):
    return render(request, "shop/contact_thanks.html")


def bad_request(request, exception):
    """A request we could not take (e.g. the session ended under it): say what stands."""
    # No request context, as for the 500 page: the session itself may be what failed.
    return HttpResponseBadRequest(render_to_string("shop/400.html", _shop_details(request)))


def page_not_found(request, exception):
    """A 404 that looks like the shop and says where to go; it never says what exists."""
    return render(request, "shop/404.html", status=404)


def server_error(request):
    # No request context: context processors may need the database that just failed.
    return HttpResponseServerError(render_to_string("shop/500.html", _shop_details(request)))


def _shop_details(request) -> dict:
    """The header's and footer's values from settings alone (no session, no database), and
    this response's CSP nonce for the page's inline style."""
    return {
        "csp_nonce": getattr(request, "csp_nonce", ""),
        "shop_name": settings.SHOP_NAME,
        "shop_email": settings.SHOP_EMAIL,
        "shop_address": settings.SHOP_ADDRESS,
        "shop_phone": settings.SHOP_PHONE,
    }
