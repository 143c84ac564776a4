"""Let Hypothesis look for the interleaving nobody thought of (the machine: machine.py).

CI runs a small budget; a larger one is one environment variable away:

    HYPOTHESIS_EXAMPLES=200 HYPOTHESIS_STEPS=50 scripts/test tests/properties

Any failure it finds is shrunk to a short program of steps; pin that program in
test_regressions.py (it replays as written) and fix the application.
"""

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.properties.machine import STATS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "30"))
STEPS = int(os.environ.get("HYPOTHESIS_STEPS", "30"))


def test_every_interleaving_converges_with_the_books_right(machine):
    STATS.clear()
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture,
                HealthCheck.data_too_large,
            ],
            print_blob=True,
        ),
    )
    # Shown with -rP (or -s): what the examples reached, to judge the machine's reach.
    print("\n".join(f"stat {n:5} {what}" for what, n in sorted(STATS.items())))
