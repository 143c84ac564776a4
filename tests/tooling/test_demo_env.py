"""The demo keeps its mail in files across restarts (issue 14).

Before: the demo's "mailbox" was the worker's console output in var/qcluster.log, which
scripts/run truncated on every start.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def demo_env(**overrides) -> dict[str, str]:
    """The environment scripts/run gives the shop's processes (it sources scripts/demo-env)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "EMAIL_", "SITE_URL", "PORT", "SHOP_", "LOG_FORMAT"))
    }
    base.update(overrides)
    result = subprocess.run(
        ["bash", "-c", "source scripts/demo-env && env -0"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        check=True,
    )
    pairs = (item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


def test_the_demo_sends_mail_to_files_in_var_mail():
    env = demo_env()
    assert env["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert Path(env["EMAIL_FILE_PATH"]) == ROOT / "var" / "mail"
    # The demo runs as production does (DEBUG off: the shop's own error pages), as the demo.
    assert env["DJANGO_DEBUG"] == "0"
    assert env["SHOP_DEMO"] == "1"
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "0"  # plain http on loopback


def send_one(env: dict, subject: str) -> None:
    code = (
        "import django; django.setup()\n"
        "from django.core.mail import send_mail\n"
        f"send_mail({subject!r}, 'body', 'shop@shop.invalid', ['ann@example.com'])\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "shop.settings"},
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_mail_sent_before_a_restart_is_still_there_after_it(tmp_path):
    env = demo_env(EMAIL_FILE_PATH=str(tmp_path / "mail"))
    send_one(env, "Order ORD-BEFORE confirmed")  # one run of the demo
    send_one(env, "Order ORD-AFTER confirmed")  # the next, after a restart
    texts = [p.read_text() for p in (tmp_path / "mail").iterdir()]
    assert len(texts) == 2
    assert any("ORD-BEFORE" in t for t in texts) and any("ORD-AFTER" in t for t in texts)


def test_scripts_run_appends_to_its_logs_and_never_truncates_them():
    script = (ROOT / "scripts" / "run").read_text()
    assert "source scripts/demo-env" in script
    assert ">>var/qcluster.log" in script
    assert not re.search(r"[^>]>\s*var/", script), "a log under var/ is truncated on start"
