"""The checkout under the threaded web deployment's connection pool (``DB_POOL_SIZE``).

With a pool, a thread gives its database connection back before each Stripe call and takes
one again for its next query, so a few connections serve many threads that wait on Stripe;
without one the persistent connection is kept (closing it would cost a reconnect); inside a
transaction nothing is ever given back.
"""

import secrets

import pytest
from django.db import connection, transaction

import stripe_gateway
from orders.checkout import LineRequest, place_order
from orders.models import Order, OrderStatus
from orders.payment.driver import drive_payment, hand_back_connection
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)

POOL_SIZE = 2


@pytest.fixture
def pooled(monkeypatch):
    """The default database behind a pool of POOL_SIZE connections, as DB_POOL_SIZE sets it."""
    connection.close()
    monkeypatch.setitem(
        connection.settings_dict["OPTIONS"],
        "pool",
        {"min_size": POOL_SIZE, "max_size": POOL_SIZE, "timeout": 10},
    )
    assert connection.settings_dict["CONN_MAX_AGE"] == 0  # Django's condition for a pool
    yield connection.pool
    connection.close()
    connection.close_pool()


@pytest.fixture
def stripe_calls(monkeypatch):
    """The driver's Stripe calls, each with whether its thread held a connection meanwhile."""
    calls = []

    def spying(name):
        real = getattr(stripe_gateway, name)

        def spy(*args, **kwargs):
            calls.append((name, connection.connection is not None))
            return real(*args, **kwargs)

        return spy

    for name in ("create_payment_intent", "confirm_payment_intent", "retrieve_payment_intent"):
        monkeypatch.setattr(stripe_gateway, name, spying(name))
    return calls


def test_with_a_pool_no_connection_is_held_while_stripe_answers(pooled, stripe_calls, checkout):
    order = checkout()
    assert order.status == OrderStatus.PAID
    assert stripe_calls == [
        ("create_payment_intent", False),
        ("confirm_payment_intent", False),
    ]
    # Retried with its PaymentIntent recorded: read back from Stripe, connection given back too.
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAYMENT_STARTING)
    stripe_calls.clear()
    assert drive_payment(order.pk, cause="checkout_retry").status == OrderStatus.PAID
    assert stripe_calls == [("retrieve_payment_intent", False)]


def test_without_a_pool_the_persistent_connection_is_kept(stripe_calls, checkout):
    assert checkout().status == OrderStatus.PAID
    assert stripe_calls == [
        ("create_payment_intent", True),
        ("confirm_payment_intent", True),
    ]


def test_nothing_is_given_back_inside_a_transaction(pooled):
    with transaction.atomic():
        Order.objects.count()
        assert hand_back_connection() is False
        assert connection.connection is not None
    assert hand_back_connection() is True
    assert connection.connection is None


def test_many_threads_check_out_at_once_through_a_pool_of_two(
    pooled, stripe_api, make_product, delivery
):
    """Eight customers at once, as eight threads of one gthread worker, share two connections."""
    product = make_product(stock=100)
    methods = [stripe_api.payment_method("4242424242424242") for _ in range(8)]

    def customer(method):
        return lambda: (
            place_order(
                lines=[LineRequest(product.pk, 1)],
                email="many@example.com",
                delivery=delivery,
                payment_method_id=method,
                checkout_token=secrets.token_urlsafe(24),
            ).status
        )

    statuses = run_together(*(customer(m) for m in methods), finish_timeout=120)
    assert statuses == [OrderStatus.PAID] * 8
    stats = pooled.get_stats()
    assert stats["pool_size"] == POOL_SIZE  # never more connections than the pool's size
    product.refresh_from_db()
    assert product.stock == 92
