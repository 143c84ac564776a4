"""The CI-sized chaos run: the real stack under faults keeps every invariant (see bench/chaos/)."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.stripe_stand_in import semantics_enabled

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_checkouts_under_stripe_web_and_worker_faults_converge_with_no_invariant_broken():
    url = urlsplit(os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    env = {**os.environ, "BENCH_PG_URL": f"{url.scheme}://{url.netloc}"}
    result = subprocess.run(
        # Another suite on this machine may be running its chaos run: wait for it.
        [
            *(sys.executable, "-m", "bench.chaos", "--ci", "--wait-lock", "900"),
            *("--stripe-semantics", "on" if semantics_enabled() else "off"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = result.stdout[-6000:]
    assert result.returncode == 0, (
        f"chaos run failed ({result.returncode}):\n{report}\n{result.stderr[-3000:]}"
    )
    assert "violations          : 0" in report
