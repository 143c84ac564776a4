"""Per-client and per-email limits on the forms the public can post, counted by django-ratelimit.

``settings.RATE_LIMITS`` names each form's limits as (key kind, rate) pairs, e.g.
``"checkout": [("ip", "20/10m"), ("email", "5/h")]``; rates are django-ratelimit's
("count/period", period in s, m, h or d, optionally multiplied: 10m). Only POSTs count.
The first limit exceeded answers 429 with the shop's own page saying when to try again,
and adds one to that limit's ``LimitHit`` row for the hour. Counts live in the shared
cache (``settings.CACHES``: Redis or the database, never one worker's memory).
"""

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.shortcuts import render
from django.utils import timezone
from django_ratelimit.core import get_usage

from ratelimits.client import client_ip
from ratelimits.models import LimitHit

logger = logging.getLogger(__name__)

try:  # the cache may be Redis (the `redis` extra), whose errors are its own
    from redis.exceptions import RedisError as _RedisError
except ImportError:  # pragma: no cover - the extra is not installed
    _RedisError = DatabaseError
CACHE_ERRORS = (DatabaseError, _RedisError, ConnectionError, TimeoutError)

WHAT_WAS_LIMITED = {
    "ip": "We have had too many attempts from your connection in a short time.",
    "email": "We have had too many attempts for this email address in a short time.",
}


@dataclass(frozen=True)
class Refusal:
    scope: str
    key_kind: str
    retry_after: int  # seconds until the limit's window ends


def normalized_email(value) -> str:
    """The email as counted: one address however it is capitalised or padded."""
    return value.strip().lower() if isinstance(value, str) else ""


def _key(kind: str, request):
    if kind == "ip":
        return "ip"  # django-ratelimit's own, through RATELIMIT_IP_META_KEY (client_ip)
    if kind == "email":
        email = normalized_email(request.POST.get("email"))
        return (lambda group, req: email) if email else None
    raise ValueError(f"unknown rate-limit key kind {kind!r}")


def check_limits(request, scope: str) -> Refusal | None:
    """Count this POST against each of ``scope``'s limits; the first one exceeded, if any.

    If the cache cannot be reached the request is let through (and logged): a limit that
    fails closed would turn a cache outage into a shop that takes no orders.
    """
    if request.method != "POST":
        return None
    for kind, rate in settings.RATE_LIMITS[scope]:
        key = _key(kind, request)
        if key is None:
            continue  # nothing to count by (no email given): the form says so itself
        try:
            usage = get_usage(
                request, group=f"{scope}:{kind}", key=key, rate=rate, method="POST", increment=True
            )
        except CACHE_ERRORS as exc:
            logger.warning(
                "rate limit not checked: cache unavailable",
                extra={"scope": scope, "key_kind": kind, "error": str(exc)},
            )
            return None
        if usage is not None and usage["should_limit"]:
            refusal = Refusal(scope, kind, retry_after=max(int(usage["time_left"]), 1))
            _count(request, refusal)
            return refusal
    return None


def _count(request, refusal: Refusal) -> None:
    ip = client_ip(request)
    logger.warning(
        "rate limit hit",
        extra={"scope": refusal.scope, "key_kind": refusal.key_kind, "client_ip": ip},
    )
    try:
        LimitHit.count_hit(scope=refusal.scope, key_kind=refusal.key_kind, at=timezone.now(), ip=ip)
    except DatabaseError:
        logger.warning("rate limit hit not counted", extra={"scope": refusal.scope})


def _wait_text(seconds: int) -> str:
    minutes = -(-seconds // 60)
    if seconds < 60:
        return "less than a minute"
    if minutes < 90:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = -(-minutes // 60)
    return f"{hours} hours"


def too_many_requests(request, refusal: Refusal):
    """The shop's page for a refused request: 429, what was limited and when to come back."""
    response = render(
        request,
        "ratelimits/too_many_requests.html",
        {
            "what": WHAT_WAS_LIMITED[refusal.key_kind],
            "retry_after_text": _wait_text(refusal.retry_after),
            "retry_at": timezone.now() + timedelta(seconds=refusal.retry_after),
        },
        status=429,
    )
    response["Retry-After"] = str(refusal.retry_after)
    response["Cache-Control"] = "no-store"
    return response


def rate_limited(scope: str):
    """Decorate a view so that POSTs over ``settings.RATE_LIMITS[scope]`` get the 429 page."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if (refusal := check_limits(request, scope)) is not None:
                return too_many_requests(request, refusal)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
