"""Template filters of the payments health page."""

from django import template

from orders.support.explain import explain_text
from payments.health import format_duration

register = template.Library()


@register.filter
def duration(value) -> str:
    """Format a timedelta as "2h 5m"."""
    return format_duration(value)


@register.filter
def explained(value) -> str:
    """A stored error in plain words, its raw text folded away under "Technical detail"."""
    return explain_text(str(value or "")).html()
