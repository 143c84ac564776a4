"""Values every storefront page needs: the cart size and the Stripe mode."""

from django.conf import settings


def shop(request):
    """Expose the cart size and the Stripe mode to every template.

    The cart size is a callable, so the session (a database read) is loaded only by a
    template that shows it: not by the order page's poller, which renders a fragment.
    """
    from catalog.cart import Cart

    return {
        "cart_count": Cart(request.session).count,
        "stripe_local_stand_in": settings.STRIPE_LOCAL_STAND_IN,
        "shop_name": settings.SHOP_NAME,
    }
