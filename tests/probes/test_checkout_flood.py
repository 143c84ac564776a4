"""The flood probe against the live server: the limit engages, the other customer buys."""

import pytest
from django.core import mail

from orders.models import Order, OrderStatus
from ratelimits.models import LimitHit
from tests.probes.checkout_flood import run_probe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_hundred_checkouts_from_one_client_engage_the_limit_while_another_buys(
    live_server, stripe_api, make_product, settings, capsys, delivery
):
    make_product(name="Flood mug", price=1200, stock=1000)
    ip_limit = int(settings.RATE_LIMITS["checkout"][0][1].split("/")[0])

    result = run_probe(shop=live_server.url, stripe=stripe_api.base, attempts=100, purchases=3)
    print(result.report())

    assert result.tester.attempts == 100
    assert result.tester.accepted == ip_limit
    assert result.tester.limited == 100 - ip_limit
    assert result.customer.attempts == result.customer.accepted == result.customer.paid == 3
    assert result.ok
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 3
    assert Order.objects.filter(email__startswith="victim").count() == ip_limit
    # The victims named by the tester got nothing; the customer got three confirmations.
    assert sorted({m.to[0] for m in mail.outbox}) == ["customer@example.com"]
    assert len(mail.outbox) == 3
    assert LimitHit.objects.get(key_kind="ip").count == 100 - ip_limit
