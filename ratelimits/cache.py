"""The shared cache the rate limits count in, when no Redis is configured: the database.

Django's ``DatabaseCache`` increments by reading the value and writing it back, so two
workers counting the same client at once can lose a count; django-ratelimit refuses it for
that reason (``django_ratelimit.E003``). ``AtomicDatabaseCache`` locks the row for the
read-modify-write (``SELECT ... FOR UPDATE``; on SQLite the demo's IMMEDIATE transactions
serialise writers anyway), so every attempt counts, whichever gunicorn worker or host
answers it. On PostgreSQL ``add`` (a window's first count) is one ``INSERT ... ON CONFLICT``
instead of Django's count of the whole table, select and insert; expired entries are
deleted by the hourly sweep rather than culled on the way. Everything else is Django's own.
"""

import base64
import io
import pickle
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.db import connections, router, transaction
from django.utils import timezone


def _now(connection):
    return connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))


class AtomicDatabaseCache(DatabaseCache):
    """Django's database cache with an atomic ``incr`` (two statements, the row locked)."""

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        if connection.vendor != "postgresql":
            return super().add(key, value, timeout, version)
        key = self.make_and_validate_key(key, version=version)
        timeout = self.get_backend_timeout(timeout)
        expires = datetime.max if timeout is None else datetime.fromtimestamp(timeout, tz=UTC)
        encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
        quote = connection.ops.quote_name
        table = quote(self._table)
        with connection.cursor() as cursor:
            # Inserted, or replaced an expired entry: added. A live entry is left alone.
            cursor.execute(
                f"INSERT INTO {table} ({quote('cache_key')}, {quote('value')}, "
                f"{quote('expires')}) VALUES (%s, %s, %s) ON CONFLICT ({quote('cache_key')}) "
                f"DO UPDATE SET {quote('value')} = EXCLUDED.{quote('value')}, "
                f"{quote('expires')} = EXCLUDED.{quote('expires')} "
                f"WHERE {table}.{quote('expires')} < %s",
                [
                    key,
                    encoded,
                    connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0)),
                    _now(connection),
                ],
            )
            return cursor.rowcount == 1

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table = quote(self._table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('value')} FROM {table} "
                f"WHERE {quote('cache_key')} = %s AND {quote('expires')} > %s{lock}",
                [key, _now(connection)],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode()))
            value += delta
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {quote('value')} = %s WHERE {quote('cache_key')} = %s",
                [encoded, key],
            )
        return value

    def delete_expired(self) -> int:
        """Delete the entries past their expiry (the hourly sweep); return how many."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(self._table)} WHERE {quote('expires')} < %s",
                [_now(connection)],
            )
            return cursor.rowcount


def create_cache_tables(*, using="default", **kwargs) -> None:
    """post_migrate: create the database cache tables (``createcachetable``; idempotent)."""
    if any(issubclass(type(caches[name]), DatabaseCache) for name in settings.CACHES):
        call_command("createcachetable", database=using, verbosity=0, stdout=io.StringIO())


def delete_expired_entries() -> int:
    """Delete expired entries of every database cache; return how many."""
    return sum(
        caches[name].delete_expired()
        for name in settings.CACHES
        if isinstance(caches[name], AtomicDatabaseCache)
    )
