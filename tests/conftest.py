import secrets
from datetime import timedelta

import pytest
import stripe as stripe_sdk
from django.conf import settings

from catalog.models import Product
from orders import clock as order_clock
from orders.checkout import LineRequest, place_order
from orders.models import OrderStatus
from tests.stripe_stand_in import Fault, FaultyHTTPClient, StandIn, free_port


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


@pytest.fixture
def stripe_api(stand_in):
    """The stand-in, emptied before the test so every test sees only its own money."""
    stand_in.flush()
    return stand_in


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
def faults(monkeypatch, stripe_api):
    """Faults injected on the HTTP layer under the stripe SDK, for the shop's own calls."""
    plan = Faults()
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: FaultyHTTPClient(plan.planned, plan.log, timeout=settings.STRIPE_TIMEOUT_SECONDS),
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


@pytest.fixture
def checkout(stripe_api, make_product):
    """Place an order the way the checkout view does, with a card number of the test's choice."""

    def place(
        card: str = "4242424242424242",
        *,
        product=None,
        quantity: int = 1,
        token: str | None = None,
        email="ann@example.com",
    ):
        product = product or make_product()
        return place_order(
            lines=[LineRequest(product.pk, quantity)],
            email=email,
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
