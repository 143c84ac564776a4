"""The django-q2 schedules that keep payments converging.

Created by migration payments 0002 and, idempotently by name, after every migrate (so they
also come back after a test flush or if someone deletes one by hand).
"""

from django_q.models import Schedule

SCHEDULES = [
    # (name, function, minutes)
    ("reconcile-payments", "payments.tasks.reconcile_payments", 1),
    ("dispatch-outbox", "orders.tasks.dispatch_due_outbox", 1),
    ("audit-payments", "payments.tasks.audit_payments", 60),
    # Proves a worker runs tasks: /healthz answers 503 once it is older than a few minutes.
    ("worker-heartbeat", "qworker.heartbeat.beat", 1),
    # Unverified webhook records and expired rate-limit counts (payments/retention.py).
    ("prune-webhook-records", "payments.tasks.prune_webhook_records", 60),
]


def ensure_schedule(name: str, func: str, minutes: int) -> None:
    """Create or update one schedule by name, every ``minutes``, for ever; idempotent."""
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": func,
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
        },
    )


def ensure_schedules(**kwargs) -> None:
    """Create or update the schedules by name; running it twice changes nothing."""
    for name, func, minutes in SCHEDULES:
        ensure_schedule(name, func, minutes)
