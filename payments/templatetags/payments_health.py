from django import template

from payments.selectors import format_duration

register = template.Library()


@register.filter
def duration(value) -> str:
    """Format a timedelta as "2h 5m"."""
    return format_duration(value)
