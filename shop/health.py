"""``/healthz`` for the load balancer: can this host serve, and is a worker running tasks?

Cheap (one trivial query and one row), no login, never cached; 200 with a small JSON body
when all is well, 503 otherwise. It says nothing about orders or Stripe (that is /metrics):
a load balancer should take a host out when *it* cannot serve, not when Stripe is slow.
"""

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from qworker.heartbeat import last_beat


@never_cache
@require_GET
def healthz(request):
    body: dict = {"database": "ok", "worker": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat_at = last_beat()
    except DatabaseError:
        body["database"] = "unreachable"
        body["worker"] = "unknown"
        beat_at = None
    else:
        max_age = timedelta(seconds=settings.HEALTHZ_HEARTBEAT_MAX_AGE)
        if beat_at is None:
            body["worker"] = "no heartbeat yet"
        else:
            age = timezone.now() - beat_at
            body["worker_heartbeat_age_seconds"] = max(int(age.total_seconds()), 0)
            if age > max_age:
                body["worker"] = "stale"
    healthy = body["database"] == "ok" and body["worker"] == "ok"
    body["status"] = "ok" if healthy else "fail"
    return JsonResponse(body, status=200 if healthy else 503)
