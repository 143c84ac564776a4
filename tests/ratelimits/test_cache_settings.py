"""The rate limits' cache comes from the environment, and is never one process's memory."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings_test", **env}
    environment.pop("CACHE_URL", None) if "CACHE_URL" not in env else None
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True
    )


SHOW = "import django; django.setup(); from django.conf import settings; " + (
    "print(settings.CACHES['default']['BACKEND'], settings.CACHES['default'].get('LOCATION'))"
)
CHECK = (
    "import django; django.setup(); from django.core import checks; "
    "print(sorted(m.id for m in checks.run_checks(tags=['caches']) if not m.is_silenced()))"
)


def test_without_cache_url_the_limits_count_in_a_database_table():
    shown = _run(SHOW)
    assert shown.stdout.split() == ["ratelimits.cache.AtomicDatabaseCache", "shop_cache"]
    assert _run(CHECK).stdout.strip() == "[]"


def test_a_redis_cache_url_selects_djangos_redis_backend():
    shown = _run(SHOW, CACHE_URL="redis://127.0.0.1:6379/5")
    assert shown.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://127.0.0.1:6379/5",
    ]
    assert _run(CHECK, CACHE_URL="redis://127.0.0.1:6379/5").stdout.strip() == "[]"


def test_a_per_process_cache_is_refused_by_the_system_checks():
    checked = _run(CHECK, CACHE_URL="locmemcache://")
    assert "django_ratelimit.E003" in checked.stdout, checked.stderr
