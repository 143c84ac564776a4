"""Which django-q2 broker carries the shop's tasks: the database (default) or Redis."""

import importlib.util
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

REDIS_SCHEMES = ("redis", "rediss", "unix")


def broker_settings(url: str) -> dict:
    """The Q_CLUSTER entries for Q_BROKER_URL: "" = the ORM broker on the default database."""
    if not url:
        return {"orm": "default"}
    scheme = urlsplit(url).scheme
    if scheme not in REDIS_SCHEMES:
        raise ImproperlyConfigured(
            f"Q_BROKER_URL must be empty (tasks queued in the database) or a Redis URL "
            f"({', '.join(s + '://' for s in REDIS_SCHEMES)}), not one starting {scheme + '://'!r}"
        )
    if importlib.util.find_spec("redis") is None:
        raise ImproperlyConfigured(
            "Q_BROKER_URL names Redis but the redis package is not installed: run "
            "scripts/bootstrap --redis (or pip install '.[redis]')"
        )
    # django-q2 passes a string to redis.from_url (django_q/brokers/redis_broker.py).
    return {"redis": url}


def enqueue_errors() -> tuple[type[Exception], ...]:
    """What a failed enqueue raises with either broker (the database's, or Redis's)."""
    from django.db import DatabaseError

    try:
        from redis import RedisError
    except ImportError:
        return (DatabaseError,)
    return (DatabaseError, RedisError)
