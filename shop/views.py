from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shop.cart import Cart
from shop.exceptions import CartError
from shop.forms import QuantityForm
from shop.models import Product


def product_list(request):
    products = Product.objects.filter(is_active=True)
    return render(request, "shop/product_list.html", {"products": products})


def product_detail(request, slug):
    product = get_object_or_404(Product, slug=slug, is_active=True)
    return render(request, "shop/product_detail.html", {"product": product})


def _product_from_post(request) -> Product:
    raw = request.POST.get("product_id", "")
    if not raw.isdigit():
        raise Http404("No such product")
    return get_object_or_404(Product, pk=int(raw))


def _apply(request, change) -> None:
    form = QuantityForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["quantity"][0])
        return
    try:
        change(form.cleaned_data["quantity"])
    except CartError as exc:
        messages.error(request, str(exc))


@require_POST
def cart_add(request):
    product = _product_from_post(request)
    cart = Cart(request.session)

    def add(quantity):
        cart.add(product=product, quantity=quantity)
        messages.success(request, f"Added {quantity} × {product.name} to your cart.")

    _apply(request, add)
    return redirect("shop:cart")


@require_POST
def cart_update(request):
    product = _product_from_post(request)
    cart = Cart(request.session)
    _apply(request, lambda quantity: cart.set_quantity(product=product, quantity=quantity))
    return redirect("shop:cart")


@require_POST
def cart_remove(request):
    product = _product_from_post(request)
    Cart(request.session).set_quantity(product=product, quantity=0)
    return redirect("shop:cart")


def cart_detail(request):
    cart = Cart(request.session)
    return render(
        request,
        "shop/cart.html",
        {"lines": cart.lines(), "total": cart.total(), "currency": cart.currency()},
    )
