"""Catalog and cart pages: parse the input, change the session cart, say what happened.

A refused change (bad number, unknown product, not enough stock) leaves the cart exactly as
it was and tells the customer why; totals are always recomputed from the database.
"""

from django.contrib import messages
from django.http import HttpResponseBadRequest, HttpResponseServerError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from catalog.cart import Cart
from catalog.exceptions import CartError
from catalog.models import Product
from shop import contact
from shop.forms import CartChangeForm, ContactForm


def product_list(request):
    products = Product.objects.filter(is_active=True)
    return render(request, "shop/product_list.html", {"products": products})


def product_detail(request, slug):
    product = get_object_or_404(Product, slug=slug, is_active=True)
    cart = Cart(request.session)
    return render(
        request,
        "shop/product_detail.html",
        {"product": product, "in_cart": cart.quantity_of(product.pk)},
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
    return render(
        request,
        "shop/cart.html",
        {
            "lines": cart.lines(),
            "total": cart.total(),
            "currency": cart.currency(),
            "problems": cart.problems(),
        },
    )


def contact_page(request):
    """The contact form; its POST goes through ``contact_submit`` alone (rate limited there)."""
    if request.method == "POST":
        return contact_submit(request)
    return render(request, "shop/contact.html", {"form": ContactForm()})


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
    return HttpResponseBadRequest(render_to_string("shop/400.html"))


def page_not_found(request, exception):
    """A 404 that looks like the shop and says where to go; it never says what exists."""
    return render(request, "shop/404.html", status=404)


def server_error(request):
    # No request context: context processors may need the database that just failed.
    return HttpResponseServerError(render_to_string("shop/500.html"))
