import secrets
from datetime import timedelta

import pytest
import stripe as stripe_sdk
from django.conf import settings

from catalog.models import Product
from devtools.stripe_semantics import Planned, StripeSemantics
from orders import clock as order_clock
from orders.checkout import Delivery, LineRequest, place_order
from orders.models import OrderStatus, ShippingMethod, ShippingZone, VatRate
from tests.stripe_stand_in import (
    Fault,
    FaultyHTTPClient,
    StandIn,
    StripeHTTPClient,
    free_port,
    semantics_enabled,
)


@pytest.fixture(scope="session")
def stand_in():
    """One localstripe process for the whole run, bound to loopback on a free port."""
    server = StandIn(free_port())
    server.start()
    settings.STRIPE_API_BASE = server.base
    settings.STRIPE_JS_URL = f"{server.base}/js.stripe.com/v3/"
    stripe_sdk.api_base = server.base  # dj-stripe's own calls go through the global client
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _semantics():
    """Stripe's idempotency layer, rate limiter and own 500s in front of the stand-in.

    Keys age on the shop's clock (``orders.clock.now``, which the ``clock`` fixture moves), so
    a test that moves it past 24 hours sees its keys pruned. ``STRIPE_SEMANTICS=off``: the
    stand-in alone (planned answers still given once, nothing saved or replayed).
    """
    return StripeSemantics(now=lambda: order_clock.now(), idempotency=semantics_enabled())


@pytest.fixture(autouse=True)
def stripe_semantics(_semantics, monkeypatch):
    """Every request the shop sends to Stripe goes through ``_semantics``, reset per test."""
    _semantics.reset()
    _semantics.set_rate_limit(None)
    _semantics.fail_writes = 0.0
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: StripeHTTPClient(_semantics, timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )
    return _semantics


@pytest.fixture
def stripe_api(stand_in, stripe_semantics):
    """The stand-in, emptied before the test so every test sees only its own money."""
    stand_in.flush()
    stripe_semantics.reset()
    return stand_in


class StripeSays:
    """What Stripe itself answers next, planned by a test (see ``devtools.stripe_semantics``)."""

    def __init__(self, semantics: StripeSemantics):
        self.semantics = semantics

    def server_error(
        self, path: str, *, times: int = 1, after_write: bool = False, method: str = "POST"
    ) -> Planned:
        """The next ``times`` matching writes answer 500, saved under their keys (replayed).

        ``after_write``: Stripe acted (the stand-in saw the request), then failed.
        """
        answer = "500_after" if after_write else "500_before"
        return self.semantics.plan(answer, method=method, path=path, times=times)

    def unsaved_error(self, path: str, *, times: int = 1, method: str = "POST") -> Planned:
        """The next ``times`` matching requests answer 500 before the endpoint began: nothing
        done or saved, ``Stripe-Should-Retry: true``."""
        return self.semantics.plan("500_unsaved", method=method, path=path, times=times)

    def rate_limited(
        self, *, times: int = 1, path: str = "", method: str | None = None, query: str = ""
    ):
        """429 (never saved) for the next ``times`` matching requests, reads included
        (``query``: a regular expression its query string must match too)."""
        return self.semantics.plan("429", method=method, path=path, times=times, query=query)

    def key_in_use(self, *, key: str | None = None, path: str = "", times: int = 1) -> Planned:
        """409 (as if another request with the key were still running) for the next match."""
        return self.semantics.plan("409", path=path, key=key, times=times)

    def rate_limit(self, per_second: float | None) -> None:
        """The account's token bucket (``None``: no limit)."""
        self.semantics.set_rate_limit(per_second)

    @property
    def stats(self):
        return self.semantics.stats


@pytest.fixture
def stripe_says(stripe_api, stripe_semantics) -> StripeSays:
    return StripeSays(stripe_semantics)


class Faults:
    def __init__(self):
        self.planned: list[Fault] = []
        self.log: list = []

    def add(self, mode: str, *, path: str, method: str = "POST", times: int = 1) -> Fault:
        fault = Fault(mode, method=method, path=path, times=times)
        self.planned.append(fault)
        return fault

    def clear(self) -> None:
        self.planned.clear()

    def calls(self, path: str, method: str = "POST") -> int:
        return sum(1 for m, url, _ in self.log if m == method and path in url)


@pytest.fixture
def faults(monkeypatch, stripe_api, stripe_semantics):
    """Faults injected on the wire under the stripe SDK, for the shop's own calls (in front
    of Stripe's semantics: a reply lost on the wire was still saved under its key)."""
    plan = Faults()
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: FaultyHTTPClient(
            plan.planned, plan.log, stripe_semantics, timeout=settings.STRIPE_TIMEOUT_SECONDS
        ),
    )
    return plan


class TestClock:
    """A clock the test moves by hand; nothing ever sleeps."""

    def __init__(self, start):
        self.current = start

    def __call__(self):
        return self.current

    def advance(self, **kwargs) -> None:
        self.current += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch):
    fake = TestClock(order_clock.now())
    monkeypatch.setattr(order_clock, "now", fake)
    return fake


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded pictures go to the test's own folder, never into var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def make_product(db):
    def make(**overrides) -> Product:
        defaults = {
            "slug": f"p-{secrets.token_hex(4)}",
            "name": "Test mug",
            "price": 1500,
            "currency": "eur",
            "stock": 10,
        }
        defaults.update(overrides)
        return Product.objects.create(**defaults)

    return make


def make_shipping(*, countries=("NL",), name="Test delivery", price=0, free_over=None, vat=None):
    """A shipping zone for ``countries`` with one method; ``vat`` sets their VAT rate."""
    zone = ShippingZone.objects.create(
        name=f"Zone {secrets.token_hex(3)}", countries=list(countries)
    )
    method = ShippingMethod.objects.create(zone=zone, name=name, price=price, free_over=free_over)
    if vat is not None:
        for country in countries:
            VatRate.objects.update_or_create(country=country, defaults={"rate": vat})
    return method


def delivery_to(method: ShippingMethod, country: str = "NL") -> Delivery:
    return Delivery(
        full_name="Ann Example",
        address_line1="Keizersgracht 1",
        city="Amsterdam",
        postal_code="1015 CJ",
        country=country,
        shipping_method_id=method.pk,
    )


@pytest.fixture
def delivery(db) -> Delivery:
    """Where a test's orders go: free delivery to the Netherlands (amounts are the goods').

    The starting rates of migration orders 0006 are removed: a test sees only its own.
    """
    ShippingZone.objects.all().delete()
    VatRate.objects.all().delete()
    return delivery_to(make_shipping())


@pytest.fixture
def checkout(stripe_api, make_product, delivery):
    """Place an order the way the checkout view does, with a card number of the test's choice."""

    def place(
        card: str = "4242424242424242",
        *,
        product=None,
        quantity: int = 1,
        token: str | None = None,
        email="ann@example.com",
        to: Delivery | None = None,
    ):
        product = product or make_product()
        return place_order(
            lines=[LineRequest(product.pk, quantity)],
            email=email,
            delivery=to or delivery,
            payment_method_id=stripe_api.payment_method(card),
            checkout_token=token or secrets.token_urlsafe(24),
        )

    return place


@pytest.fixture
def pending_paid_at_stripe(checkout, faults, stripe_api):
    """An order whose money Stripe took while the reply was lost: pending on our side."""
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    return order


CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"
CARD_3DS = "4000002760003184"
CARD_3DS_DECLINED = "4000008260003178"


@pytest.fixture(autouse=True)
def stripe_requests_match_openapi():
    """Every request the stripe SDK sends is checked against Stripe's OpenAPI description
    (tests/stripe_openapi): one Stripe would refuse raises in the client, and fails the test
    even where the code under test swallowed that error."""
    from tests.stripe_openapi.validate import checking_every_request

    with checking_every_request() as refused:
        yield refused
    if refused:
        pytest.fail("\n".join(str(exc) for exc in refused), pytrace=False)


@pytest.fixture
def worker_queue(monkeypatch):
    """django-q2 as in production (tasks wait in the database broker), run when the test says.

    Calling it runs every queued task in this thread, oldest first, as the worker would, and
    returns their dotted names.
    """
    from django.utils.module_loading import import_string
    from django_q.conf import Conf
    from django_q.models import OrmQ

    monkeypatch.setattr(Conf, "SYNC", False)

    def run() -> list[str]:
        ran = []
        for queued in OrmQ.objects.order_by("pk"):
            task = queued.task
            import_string(task["func"])(*task["args"], **task["kwargs"])
            ran.append(task["func"])
            queued.delete()
        return ran

    return run


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request, django_db_blocker):
    """Rate-limit counts live in the test database's cache table: no test inherits any."""
    yield
    if "django_db_setup" in request.fixturenames:
        from django.core.cache import cache
        from django.db import connection

        with django_db_blocker.unblock():
            cache.clear()
            connection.close()  # a pooled connection goes back to its pool
