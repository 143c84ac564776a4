"""The human-readable log format (LOG_FORMAT=text): the message, then every extra field.

Python's own formatter prints only the fields its format string names, which dropped the
order reference, idempotency key and the rest that the code passes in ``extra``. JSON lines
(LOG_FORMAT=json, python-json-logger) carry them as fields.
"""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS

_STANDARD = frozenset(RESERVED_ATTRS) | {"message", "asctime", "taskName"}


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger> <message> key=value ...``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        ]
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # a traceback stays below the fields
        return f"{head} {' '.join(extras)}{sep}{tail}"
