import logging

import pytest

from tests.properties.machine import ConvergenceMachine


@pytest.fixture
def machine(stripe_api, faults, clock, stripe_semantics, monkeypatch):
    """The machine class, wired to the stand-in, Stripe's semantics in front of it, the wire
    faults and the test clock; logs quiet."""
    monkeypatch.setattr(ConvergenceMachine, "stripe_api", stripe_api)
    monkeypatch.setattr(ConvergenceMachine, "semantics", stripe_semantics)
    monkeypatch.setattr(ConvergenceMachine, "faults", faults)
    monkeypatch.setattr(ConvergenceMachine, "clock", clock)
    # Forged webhooks and injected faults log errors by design; keep the output readable.
    names = ("django-q", "orders", "payments", "djstripe", "django.request", "stripe")
    quiet = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    yield ConvergenceMachine
    for logger, level in zip(quiet, levels, strict=True):
        logger.setLevel(level)
