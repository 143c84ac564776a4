"""What every log line says it concerns: the request, the order, its key, its PaymentIntent.

A context variable holds the fields of the work in progress; ``ContextFilter`` (installed on
the log handlers by ``settings.LOGGING``) copies them onto each record, beside the record's own
``extra``. Entry points open a scope (``order_scope`` for one order's work, ``scope`` for a
request); code that reads the order notes what it learnt (``note_order``). A scope's fields
vanish when it closes, so a thread or task that moves on to another order never carries the
previous one's fields into its lines.
"""

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# The fields this module owns, in the order a reader wants them.
FIELDS = ("request_id", "order_id", "order_reference", "idempotency_key", "payment_intent_id")

_context: ContextVar[dict | None] = ContextVar("shop_log_context", default=None)


@contextmanager
def scope(**fields) -> Iterator[dict]:
    """Add ``fields`` to every log line inside the block (and nothing after it)."""
    outer = _context.get() or {}
    token = _context.set({**outer, **{k: v for k, v in fields.items() if v not in (None, "")}})
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def note(**fields) -> None:
    """Add fields to the innermost open scope; outside any scope, do nothing."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v not in (None, "")})


def note_order(order) -> None:
    """Note an order's reference, idempotency key and PaymentIntent (as far as known)."""
    note(
        order_id=order.pk,
        order_reference=order.reference,
        idempotency_key=order.idempotency_key,
        payment_intent_id=order.payment_intent_id,
    )


def order_scope(func):
    """Run ``func(order_id, ...)`` (or ``func(..., order_id=...)``) in a scope of that order."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        order_id = kwargs["order_id"] if "order_id" in kwargs else (args[0] if args else None)
        with scope(order_id=order_id):
            return func(*args, **kwargs)

    return wrapper


def current() -> dict:
    """The fields of the innermost open scope (a copy)."""
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copy the open scope's fields onto each record; the record's own ``extra`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True
