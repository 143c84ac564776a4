"""The shared Stripe request budget's table (``stripe_gateway.budget`` reads and writes it
with raw SQL, one short statement at a time; this model only defines it for migrations)."""

from django.db import models


class RequestBudget(models.Model):
    """One budget of Stripe requests: the account's, shared by every process and host.

    Times are seconds since the epoch on the database's clock (one clock for every host).
    """

    name = models.CharField(max_length=100, primary_key=True)
    # When the account's bucket is next empty (GCRA's "theoretical arrival time"): every
    # granted request moves it on by one interval (1 / rate).
    tat = models.FloatField(default=0.0)
    # The same for the background classes alone, at their share of the rate.
    background_tat = models.FloatField(default=0.0)
    # Until then (after a 429) background work pauses and checkout goes at a reduced rate.
    cool_until = models.FloatField(default=0.0)
    # Bumped by every write: a write names the version it read (compare-and-set).
    version = models.BigIntegerField(default=0)
    granted = models.BigIntegerField(default=0)
    rate_limited = models.BigIntegerField(default=0)

    class Meta:
        db_table = "stripe_gateway_budget"

    def __str__(self):
        return f"Stripe request budget {self.name}"
