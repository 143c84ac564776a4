"""What the scheduled sweeps (reconciler, audit) share: a time box, and the kind of Stripe work.

A sweep runs inside a django-q task that is killed at the task timeout; killed, it would
report nothing and leave its claims to run out. So each sweep checks its ``TimeBox`` between
units of work and stops in time, giving back what it did not work on.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orders import clock, policy
from stripe_gateway import budget

# Why a sweep ended before it was done (its report says so).
STOPPED_TIME_BOX = "time box reached"
STOPPED_RATE_LIMITED = "Stripe rate-limited it"


@dataclass
class TimeBox:
    """A deadline on the shop's clock (``orders.clock``); ``None`` seconds: no deadline."""

    seconds: float | None = None
    started: datetime = field(default_factory=lambda: clock.now())

    @classmethod
    def scheduled(cls) -> "TimeBox":
        """The time box of a scheduled run (``PAYMENTS['SWEEP_TIME_BOX_SHARE']``)."""
        return cls(policy.sweep_time_box().total_seconds())

    @classmethod
    def of(cls, limit: timedelta | None) -> "TimeBox":
        return cls(None if limit is None else limit.total_seconds())

    def left(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds - (clock.now() - self.started).total_seconds()

    def expired(self) -> bool:
        return self.left() <= 0


@contextlib.contextmanager
def stripe_work(kind: str) -> Iterator[None]:
    """Mark the Stripe calls made inside as background work of ``kind`` ("reconcile", "audit").

    The one place where a sweep says what its Stripe calls are for: the shared request budget
    (``stripe_gateway.budget``) serves checkout first and lets the sweeps share what is left.
    Entered on every thread that calls Stripe.
    """
    with budget.work_class(kind):
        yield
