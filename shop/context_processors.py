from django.conf import settings


def shop(request):
    """Expose the cart size and the Stripe mode to every template."""
    from shop.cart import Cart

    return {
        "cart_count": Cart(request.session).count(),
        "stripe_local_stand_in": settings.STRIPE_LOCAL_STAND_IN,
    }
