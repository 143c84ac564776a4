"""The shop's URLs plus ``/bench/nodb/``: a Django view through the same middleware, no query."""

from django.http import HttpResponse
from django.urls import path

from shop.urls import urlpatterns as shop_urlpatterns


def no_database(request):
    """Answer like a small status fragment would, touching neither the session nor a table."""
    response = HttpResponse("<div>ok</div>")
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("bench/nodb/", no_database), *shop_urlpatterns]
