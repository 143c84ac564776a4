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
            "next_attempt_at, last_error, lease_token, key_round, charge_attempted) "
            "SELECT 'B' || %s || g, 'bpt-' || %s || g, 'bct-' || %s || g, 'bik-' || %s || g, "
            "'b' || g || '@example.com', 'payment_starting', 1500, 'eur', 'pm_bench', 0, '', "
            "false, now() - make_interval(mins => %s), now() - make_interval(mins => %s), 0, "
            "NULL, '', '', 0, false FROM generate_series(1, %s) g RETURNING id",
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


# A backlog as a database outage leaves it, by the order's number modulo 10 (see ``make_backlog``).
BACKLOG_KINDS = {
    0: "never_reached_stripe",
    **dict.fromkeys(range(1, 7), "paid"),
    7: "declined",
    8: "declined",
    9: "abandoned_3ds",
}


def make_backlog(count: int, *, oldest_minutes: float, newest_minutes: float) -> list[tuple]:
    """Insert ``count`` stale pending orders made evenly between ``oldest_minutes`` and
    ``newest_minutes`` ago; each but one in ten names its PaymentIntent (``pi_fake_<id>...``).

    Returns ``(order id, created_at as Unix seconds, kind)``, kind from ``BACKLOG_KINDS``.
    """
    from django.db import connection

    run = os.urandom(3).hex()
    step = (oldest_minutes - newest_minutes) * 60 / max(count, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders_order (reference, public_token, checkout_token, idempotency_key, "
            "email, status, total_amount, currency, payment_method_id, refunded_amount, "
            "status_reason, stock_released, created_at, status_changed_at, attempts, "
            "next_attempt_at, last_error, lease_token, payment_intent_id, key_round, "
            "charge_attempted) "
            "SELECT 'K' || %s || g, 'kpt-' || %s || g, 'kct-' || %s || g, 'kik-' || %s || g, "
            "'k' || g || '@example.com', 'payment_starting', 1500, 'eur', 'pm_bench', 0, '', "
            "false, now() - make_interval(secs => %s - g * %s), now(), 0, NULL, '', '', NULL, 0, "
            "false "
            "FROM generate_series(1, %s) g RETURNING id, extract(epoch from created_at)",
            [run, run, run, run, oldest_minutes * 60, step, count],
        )
        rows = sorted(cursor.fetchall())
        backlog = [
            (pk, int(created), BACKLOG_KINDS[i % 10]) for i, (pk, created) in enumerate(rows)
        ]
        cursor.execute(
            "UPDATE orders_order SET payment_intent_id = 'pi_fake_' || id || 'x1500xeur' "
            "WHERE id = ANY(%s)",
            [[pk for pk, _, kind in backlog if kind != "never_reached_stripe"]],
        )
        cursor.execute("ANALYZE orders_order")
    return backlog


def make_paid_orders(count: int, *, oldest_minutes: float, newest_minutes: float) -> list[tuple]:
    """Insert ``count`` paid orders (each with its one confirmation email row, as the shop
    leaves them) made evenly between those ages; returns ``(order id, created_at)``."""
    from django.db import connection

    backlog = make_backlog(count, oldest_minutes=oldest_minutes, newest_minutes=newest_minutes)
    ids = [pk for pk, _, _ in backlog]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orders_order SET status = 'paid', "
            "payment_intent_id = 'pi_fake_' || id || 'x1500xeur' WHERE id = ANY(%s)",
            [ids],
        )
        cursor.execute(
            "INSERT INTO orders_outboxmessage (order_id, kind, discriminator, payload, state, "
            "attempts, available_at, created_at, last_error, result, key_round) "
            "SELECT id, 'confirmation_email', '', '{}', 'sent', 1, now(), now(), '', '{}', 0 "
            "FROM orders_order WHERE id = ANY(%s)",
            [ids],
        )
    return [(pk, created) for pk, created, _ in backlog]
