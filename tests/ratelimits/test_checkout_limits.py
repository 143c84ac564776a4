"""Card testing: checkout attempts are limited per client and per email, across workers."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client

from orders.models import Order
from ratelimits.models import LimitHit
from tests.conftest import CARD_OK
from tests.orders.pages import pay, signature_on, token_on

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limits(settings, delivery):
    """Small limits, so that a test reaches them in a few posts."""
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "checkout": [("ip", "3/10m"), ("email", "100/h")],
    }
    return settings


def open_checkout(client, product) -> Client:
    client.post("/cart/add/", {"product_id": product.pk, "quantity": "1"})
    page = client.get("/checkout/").content.decode()
    client.token, client.signature = token_on(page), signature_on(page)
    return client


def junk_attempt(client, n: int):
    """What a card tester posts: a made-up card (PaymentMethod) on a form it was never given."""
    return client.post(
        "/checkout/",
        {
            "email": f"victim{n}@example.com",
            "payment_method_id": f"pm_stolen{n:04d}",
            "checkout_token": f"forged-token-{n:04d}-xxxxxxxxxx",
        },
    )


def test_checkout_attempts_past_the_per_client_limit_get_a_friendly_429_and_charge_nothing(
    limits, make_product, stripe_api, stripe_says
):
    mug = make_product(name="Mug", price=1000, stock=5)
    tester = open_checkout(Client(REMOTE_ADDR="203.0.113.7"), mug)
    for n in range(3):
        assert junk_attempt(tester, n).status_code == 302  # "this form has expired"

    response = pay(tester, stripe_api, CARD_OK)  # even a well-formed checkout, now

    assert response.status_code == 429
    page = response.content.decode()
    assert "too many attempts from your connection" in page
    assert "Nothing was charged" in page and 'id="retry-after"' in page
    assert 0 < int(response["Retry-After"]) <= 600
    assert not Order.objects.exists()
    assert stripe_says.stats["requests"] == 0  # not a single call to Stripe
    hit = LimitHit.objects.get()
    assert (hit.scope, hit.key_kind, hit.count, hit.last_ip) == ("checkout", "ip", 1, "203.0.113.7")


def test_another_client_buys_normally_while_one_is_limited(limits, make_product, stripe_api):
    mug = make_product(name="Mug", price=1000, stock=5)
    tester = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(5):
        junk_attempt(tester, n)
    assert junk_attempt(tester, 9).status_code == 429

    customer = open_checkout(Client(REMOTE_ADDR="198.51.100.20"), mug)
    response = pay(customer, stripe_api, CARD_OK, email="real@example.com")

    assert response.status_code == 302
    assert Order.objects.get(email="real@example.com").status == "paid"
    assert LimitHit.objects.get().count == 3


def test_one_email_is_limited_whatever_client_or_capitalisation_it_comes_with(
    settings, make_product, stripe_api
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout": [("ip", "100/m"), ("email", "2/h")]}
    for n, email in enumerate(["Victim@Example.com", " victim@example.com", "VICTIM@example.COM"]):
        client = Client(REMOTE_ADDR=f"192.0.2.{n + 1}")
        response = client.post(
            "/checkout/", {"email": email, "payment_method_id": "pm_x", "checkout_token": "t" * 24}
        )
    assert response.status_code == 429
    assert "too many attempts for this email address" in response.content.decode()
    other = Client(REMOTE_ADDR="192.0.2.9").post(
        "/checkout/", {"email": "someone@example.com", "checkout_token": "t" * 24}
    )
    assert other.status_code == 302
    assert LimitHit.objects.get().key_kind == "email"


def test_a_forwarded_for_header_is_ignored_unless_a_trusted_proxy_is_configured(limits):
    tester = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [
        junk_attempt(tester, n).status_code
        for n in range(4)
        for _ in [tester.defaults.update(HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")]
    ]
    assert statuses == [302, 302, 302, 429]


def test_behind_a_trusted_proxy_clients_are_told_apart_by_the_address_it_appends(limits):
    limits.CLIENT_IP_HEADER = "X-Forwarded-For"
    limits.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    # A client cannot escape its count by sending its own X-Forwarded-For: the proxy appends
    # the address it saw, and only that last entry is read.
    spoofing = [
        junk_attempt(
            Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7"), n
        ).status_code
        for n in range(4)
    ]
    other = junk_attempt(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.20"), 9)
    assert spoofing == [302, 302, 302, 429]
    assert other.status_code == 302
    assert LimitHit.objects.get().last_ip == "203.0.113.7"


def test_the_database_cache_counts_atomically_across_connections():
    """Two workers counting the same client at once never lose a count (the row is locked)."""
    cache.add("rl:race", 1, 60)
    first_counted, release = threading.Event(), threading.Event()
    results = {}

    def first():
        with transaction.atomic():
            results["first"] = cache.incr("rl:race")
            first_counted.set()
            release.wait(5)
        connection.close()

    def second():
        first_counted.wait(5)
        results["second"] = cache.incr("rl:race")  # waits for the first to commit
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_counted.wait(5)
    threads[1].join(0.5)
    blocked = threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(10)
    assert blocked
    assert (results["first"], results["second"], cache.get("rl:race")) == (2, 3, 3)


def test_staff_see_how_many_requests_each_limit_refused_on_the_payments_health_page(
    limits, admin_client
):
    tester = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(8):
        junk_attempt(tester, n)

    page = admin_client.get("/admin/payments/reconcilerrun/health/").content.decode()
    figures = admin_client.get("/admin/ratelimits/limithit/").content.decode()

    assert "Refused by the checkout/ip limit" in page
    assert '<td class="figure">5</td>' in page.split('id="abuse-controls"')[1]
    assert "203.0.113.7" in figures


def test_a_count_is_added_once_per_window_and_again_once_it_expired():
    assert cache.add("rl:window", 1, 600) is True
    assert cache.add("rl:window", 1, 600) is False  # live: left alone
    assert cache.incr("rl:window") == 2
    cache.set("rl:old", 7, 0)  # already expired
    assert cache.add("rl:old", 1, 600) is True
    assert cache.get("rl:old") == 1
    with pytest.raises(ValueError):
        cache.incr("rl:missing")
