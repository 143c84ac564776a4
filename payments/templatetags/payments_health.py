"""Template filters of the payments health page."""

from django import template

from payments.health import format_duration

register = template.Library()


@register.filter
def duration(value) -> str:
    """Format a timedelta as "2h 5m"."""
    return format_duration(value)
