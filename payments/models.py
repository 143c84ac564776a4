"""The payments app's one table: a record of each reconciler sweep."""

from datetime import timedelta

from django.db import models

from orders import clock


class ReconcilerRun(models.Model):
    """One sweep of the reconciler, kept for the payments health page and reports."""

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    examined = models.PositiveIntegerField(default=0)
    outcomes = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self):
        return f"reconcile run {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def ok(self) -> bool:
        return self.finished_at is not None and not self.errors

    KEEP_FOR = timedelta(days=7)

    @classmethod
    def start(cls) -> "ReconcilerRun":
        now = clock.now()
        cls.objects.filter(started_at__lt=now - cls.KEEP_FOR).delete()
        return cls.objects.create(started_at=now)

    def finish(self, summary) -> None:
        self.finished_at = clock.now()
        self.examined = summary.examined
        self.outcomes = dict(summary.outcomes)
        self.errors = summary.errors[:50]
        self.save(update_fields=["finished_at", "examined", "outcomes", "errors"])
