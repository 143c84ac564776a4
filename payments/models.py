"""The payments app's tables: a record of each reconciler sweep; where the audit's walk stands."""

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


class AuditCursor(models.Model):
    """Where the audit's walk over its window stands, so that a time-boxed run continues it.

    The audit lists its window newest first, a page at a time; after each page it has fully
    checked, it moves ``position`` down to that page's oldest ``created`` second and
    ``after_id`` to its last PaymentIntent. A run that stops (time box, a 429) leaves the row
    behind and the next run lists on from there (``created[lte]``, ``starting_after``) down to
    ``since``; a walk that reaches ``since`` deletes it, and the next run starts a new walk
    at the present.
    """

    name = models.CharField(max_length=40, unique=True, default="audit")
    since = models.DateTimeField(help_text="The walk's window starts here (created[gte]).")
    position = models.BigIntegerField(
        help_text="Continue from here (created[lte], Unix seconds): newer was checked."
    )
    after_id = models.CharField(
        max_length=255, blank=True, help_text="The last PaymentIntent checked (starting_after)."
    )
    walk_started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    runs = models.PositiveIntegerField(default=1)

    def __str__(self):
        return f"audit walk since {self.since:%Y-%m-%d %H:%M}, at {self.position}"
