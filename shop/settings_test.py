"""Settings for the test suite: real PostgreSQL, django-q2 run inline, emails kept in memory."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
os.environ.setdefault(
    "DATABASE_URL",
    os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/convergent_shop"),
)

from shop.settings import *  # noqa: E402,F403
from shop.settings import DATABASES, Q_CLUSTER  # noqa: E402

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError(
        "The test suite runs on PostgreSQL only: set TEST_DATABASE_URL=postgres://..."
    )

DEBUG = False
DATABASES["default"]["CONN_MAX_AGE"] = 0
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
STRIPE_TIMEOUT_SECONDS = 5.0
SITE_URL = "http://127.0.0.1:8000"

# The suite always talks to its own localstripe (started by tests/conftest.py on a free port).
STRIPE_LOCAL_STAND_IN = True
STRIPE_SECRET_KEY = STRIPE_TEST_SECRET_KEY = "sk_test_localstripeStandInKey000000"
STRIPE_PUBLISHABLE_KEY = STRIPE_TEST_PUBLIC_KEY = "pk_test_localstripeStandInKey000000"
STRIPE_WEBHOOK_SECRET = "whsec_test_suite"
STRIPE_METADATA_TAG = "convergent-shop-tests"

# --- production settings, as the suite needs them -------------------------------------------
# DEBUG is off (as in production) but the suite speaks plain http to its own live servers:
# no https redirect, no HSTS, cookies sent over http. It talks to the stand-in on purpose, which
# payments.E010 refuses with DEBUG off: acknowledged here (tests/shop/test_production.py checks
# the check itself). Logs stay human-readable in pytest's captured output.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "payments.E010"]  # noqa: F405
# Every Stripe call takes its token from the shared budget (stripe_gateway/budget.py), at a
# rate no test reaches, and a planned 429 cools it down for a moment only (the suite runs on
# a test clock and never sleeps); the budget's own tests set theirs.
STRIPE_RATE_LIMIT_PER_SECOND = 10_000.0
STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND = 10_000.0
STRIPE_BUDGET_COOL_DOWN_SECONDS = 0.01
