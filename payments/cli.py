"""What the operator commands share: their exit codes and strict argument parsing.

Every command exits 0 when all is well, 1 when a human is needed (a failed order, a broken
invariant, Stripe or the database not answering) and 2 on bad usage (an argument it cannot
take), so cron and monitors can tell "look at the shop" from "fix the crontab".
"""

import re
from datetime import timedelta

from django.core.management.base import CommandError

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE = 0, 1, 2
EXIT_CODES_HELP = "Exits 0 when all is well, 1 when a human is needed, 2 on bad usage."

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A plain decimal number and an optional unit: no sign, exponent, nan or inf.
DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)([smhd]?)")
LONGEST = timedelta(days=3650)


def usage_error(message: str) -> CommandError:
    """A command error that exits 2: the command line is wrong, nothing was done."""
    return CommandError(message, returncode=EXIT_USAGE)


def attention(message: str) -> CommandError:
    """A command error that exits 1: the command ran and a human is needed."""
    return CommandError(message, returncode=EXIT_ATTENTION)


def parse_duration(value: str, *, option: str = "duration") -> timedelta:
    """Parse '90s', '15m', '2h', '1d' or a plain number of seconds, strictly (exit 2 if not)."""
    text = value.strip().lower()
    if text.startswith("-"):
        raise usage_error(f"Invalid duration {value!r} for {option}: must not be negative")
    match = DURATION.fullmatch(text)
    if match is None:
        raise usage_error(
            f"Invalid duration {value!r} for {option}: use a number and a unit, "
            "e.g. 90s, 15m, 2h, 1d"
        )
    number, unit = match.groups()
    seconds = float(number) * UNITS[unit or "s"]
    if seconds > LONGEST.total_seconds():
        raise usage_error(f"Invalid duration {value!r} for {option}: at most {LONGEST.days}d")
    return timedelta(seconds=seconds)
