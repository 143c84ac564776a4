"""The worker's heartbeat: a task that stamps a row, and what /healthz reads of it."""

import os
import socket
from datetime import datetime

from django.utils import timezone

from qworker.models import Heartbeat

NAME = "worker"


def beat() -> datetime:
    """Stamp the heartbeat row (run by the worker every minute, schedule "worker-heartbeat")."""
    now = timezone.now()
    Heartbeat.objects.update_or_create(
        name=NAME, defaults={"beat_at": now, "host": socket.gethostname(), "pid": os.getpid()}
    )
    return now


def last_beat() -> datetime | None:
    """When a worker last ran its heartbeat task, or None if never."""
    return Heartbeat.objects.filter(name=NAME).values_list("beat_at", flat=True).first()
