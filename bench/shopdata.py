"""A run's database: order and queue tables emptied, products in stock, stale orders in bulk."""

import os

# What a run writes; emptied before it so that every run starts from the same state.
RUN_TABLES = [
    "orders_orderevent",
    "orders_outboxmessage",
    "orders_orderline",
    "orders_order",
    "orders_unmatchedpaymentevent",
    "payments_reconcilerrun",
    "django_q_task",
    "django_q_ormq",
    "django_session",
    "djstripe_event",
    "djstripe_webhookeventtrigger",
]


def empty_tables(*extra: str) -> None:
    """TRUNCATE the run's tables (and ``extra`` ones) that exist in this database."""
    from django.db import connection

    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(t for t in [*RUN_TABLES, *extra] if t in existing) + " CASCADE"
        )


def stocked_product(slug: str, name: str, stock: int):
    """The product ``slug``, created or reset: 15.00 EUR, active, ``stock`` in stock."""
    from catalog.models import Product

    return Product.objects.update_or_create(
        slug=slug,
        defaults={
            "name": name,
            "price": 1500,
            "currency": "eur",
            "stock": stock,
            "is_active": True,
        },
    )[0]


def make_stale_orders(
    count: int, *, with_payment_intent: bool = True, age_minutes: int = 10
) -> list[int]:
    """Insert ``count`` stale pending orders in one statement; their PaymentIntent ids name them."""
    from django.db import connection

    run = os.urandom(3).hex()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders_order (reference, public_token, checkout_token, idempotency_key, "
            "email, status, total_amount, currency, payment_method_id, refunded_amount, "
            "status_reason, stock_released, created_at, status_changed_at, attempts, "
            "next_attempt_at, last_error, lease_token) "
            "SELECT 'B' || %s || g, 'bpt-' || %s || g, 'bct-' || %s || g, 'bik-' || %s || g, "
            "'b' || g || '@example.com', 'payment_starting', 1500, 'eur', 'pm_bench', 0, '', "
            "false, now() - make_interval(mins => %s), now() - make_interval(mins => %s), 0, "
            "NULL, '', '' FROM generate_series(1, %s) g RETURNING id",
            [run, run, run, run, age_minutes, age_minutes, count],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if with_payment_intent:
            cursor.execute(
                "UPDATE orders_order SET payment_intent_id = 'pi_fake_' || id || 'x1500xeur' "
                "WHERE id = ANY(%s)",
                [ids],
            )
        cursor.execute("ANALYZE orders_order")
    return ids
