"""The one source of "now" for payment logic, so tests can move time without sleeping."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """Return the current time; tests replace this function to control time."""
    return timezone.now()
