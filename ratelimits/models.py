"""The count of requests refused by each limit, per hour: what staff see of the limits."""

from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.db.models import F


class LimitHit(models.Model):
    """How many requests one limit (scope and key kind) refused in one hour.

    One row per limit and hour, bumped by a single UPDATE per refused request, so a flood
    costs a statement per refusal and the table grows by a few rows an hour at most.
    """

    scope = models.CharField(max_length=32, help_text="The form limited, e.g. checkout.")
    key_kind = models.CharField(max_length=16, help_text="What was counted: ip or email.")
    hour = models.DateTimeField(help_text="The hour (UTC) the refusals fell in.")
    count = models.PositiveIntegerField(default=0)
    last_ip = models.GenericIPAddressField(
        null=True, blank=True, help_text="The client refused last in this hour."
    )

    class Meta:
        ordering = ["-hour", "scope", "key_kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key_kind", "hour"], name="limithit_one_per_limit_hour"
            )
        ]
        verbose_name = "rate-limit refusals (per hour)"
        verbose_name_plural = "rate-limit refusals (per hour)"

    def __str__(self):
        return f"{self.scope}/{self.key_kind} {self.hour:%Y-%m-%d %H:00}: {self.count}"

    @classmethod
    def count_hit(cls, *, scope: str, key_kind: str, at: datetime, ip: str) -> None:
        """Add one refusal to its hour's row (made by the hour's first refusal)."""
        hour = at.replace(minute=0, second=0, microsecond=0)
        mine = cls.objects.filter(scope=scope, key_kind=key_kind, hour=hour)
        if mine.update(count=F("count") + 1, last_ip=ip):
            return
        try:
            with transaction.atomic():
                cls.objects.create(scope=scope, key_kind=key_kind, hour=hour, count=1, last_ip=ip)
        except IntegrityError:  # another worker made the row first
            mine.update(count=F("count") + 1, last_ip=ip)
