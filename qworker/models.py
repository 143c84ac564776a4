"""The worker's heartbeat: one row, stamped by a scheduled task every minute."""

from django.db import models


class Heartbeat(models.Model):
    """When a cluster of this worker last ran a task (the load balancer's /healthz reads it).

    A task, not the cluster's own bookkeeping: only a worker that takes tasks off the queue
    and runs them stamps it, so a wedged cluster whose sentinel still ticks goes stale.
    """

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
