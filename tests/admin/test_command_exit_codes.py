"""Every command exits 0 all well, 1 a human is needed, 2 bad usage; durations are strict.

Before (issue 14): `--older-than nan`, `inf` or `1e20s` ended in a traceback, and a usage error
exited 1 like "a human is needed", so cron could not tell them apart. Exit 1 for "a human is
needed" is proved beside each command's own tests (test_reconciler, test_payments_health).
"""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from payments.cli import parse_duration

ROOT = Path(__file__).resolve().parents[2]
BAD_DURATIONS = ["nan", "inf", "-inf", "1e20s", "1e3", "-5m", "5 m", "0x10", "99999999999d", ""]


def manage(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings_test"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["reconcile_payments", "--older-than", "nan"],
        ["reconcile_payments", "--older-than", "1e20s"],
        ["payments_report", "--stuck-after", "inf"],
        ["reconcile_payments", "--older-than=-5m"],
        ["run_worker", "--stop-timeout", "inf"],
        ["reconcile_payments", "--limit", "many"],  # argparse's own refusal
    ],
)
def test_bad_usage_exits_2_with_a_clear_message_and_no_traceback(args):
    result = manage(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "error" in result.stderr.lower() or "invalid" in result.stderr.lower()


@pytest.mark.parametrize("value", BAD_DURATIONS)
def test_durations_are_parsed_strictly(value):
    with pytest.raises(CommandError) as refused:
        parse_duration(value, option="--older-than")
    assert refused.value.returncode == 2
    assert "--older-than" in str(refused.value)


@pytest.mark.parametrize(
    "value, seconds",
    [("90", 90), ("90s", 90), ("15m", 900), ("1.5h", 5400), ("2D", 172_800), (" 10m ", 600)],
)
def test_good_durations(value, seconds):
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "name, args",
    [
        ("reconcile_payments", ["--limit", "0"]),
        ("reconcile_payments", ["--order", "ORD-NOSUCH00"]),
        ("reconcile_payments", ["--order", "ORD-X", "--older-than", "5m"]),
        ("payments_report", ["--limit", "-1"]),
        ("payments_report", ["--stuck-after", "0"]),
        ("audit_payments", ["--max-payment-intents", "0"]),
        ("connect_local_stripe", []),
        ("ensure_demo_staff", []),
    ],
)
def test_every_commands_usage_errors_exit_2(name, args, settings):
    settings.STRIPE_LOCAL_STAND_IN = name != "connect_local_stripe"  # keys "set" for that one
    with pytest.raises(CommandError) as refused:
        call_command(name, *args, stdout=StringIO(), stderr=StringIO())
    assert refused.value.returncode == 2, str(refused.value)
