"""Settings for the storefront, read from the environment (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import environ

from qworker.brokers import broker_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-demo-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Where the shop is reachable from Stripe's side (used to register webhooks locally).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "djstripe",
    "catalog",
    "shop",
    "orders",
    "payments",
    "qworker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.shop",
            ],
        },
    },
]

# PostgreSQL in tests and production; SQLite only as the demo's zero-setup default.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Checkout opens and commits its own short transactions: never wrap requests in one.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # DB_POOL_SIZE > 0: the process's threads share a pool of that many connections instead
    # of each holding its own (Django's psycopg_pool support); the threaded web deployment
    # sets it (deploy/gunicorn.conf.py), and the checkout gives its connection back while it
    # waits on Stripe (orders/payment/driver.py). Django allows no persistent connections
    # with a pool. With CONN_HEALTH_CHECKS the pool checks each connection before handing it
    # out (an empty query) and replaces a broken one, as after a PostgreSQL restart. A thread
    # that waits DB_POOL_TIMEOUT seconds for a connection gets a database error, handled as
    # any other (nothing is charged before the order is recorded).
    if pool_size := env.int("DB_POOL_SIZE", default=0):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": pool_size,
            "max_size": pool_size,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env(
        "TEST_DATABASE_NAME", default="test_convergent_shop"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Demo only: let the web server and the worker share the file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

STATIC_ROOT = BASE_DIR / "var" / "staticfiles"

SESSION_ENGINE = "shop.sessions"  # database sessions, saved without a transaction of their own
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Convergent Shop <orders@shop.invalid>")

# --- Stripe -------------------------------------------------------------------------------
# With no keys set the shop talks to the local stand-in (localstripe) on loopback. One key
# without the other is not the stand-in: the system checks refuse it (payments/checks.py).
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_LOCAL_STAND_IN = not STRIPE_SECRET_KEY and not STRIPE_PUBLISHABLE_KEY
if STRIPE_LOCAL_STAND_IN:
    STRIPE_SECRET_KEY = "sk_test_localstripeStandInKey000000"
    STRIPE_PUBLISHABLE_KEY = "pk_test_localstripeStandInKey000000"
    STRIPE_API_BASE = STRIPE_API_BASE or "http://127.0.0.1:8420"
STRIPE_JS_URL = (
    f"{STRIPE_API_BASE}/js.stripe.com/v3/" if STRIPE_LOCAL_STAND_IN else "https://js.stripe.com/v3/"
)
# The local stand-in's signing secret only. With real keys dj-stripe verifies each webhook
# against the secret stored in its WebhookEndpoint row (`manage.py setup_stripe_webhook`).
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="") or (
    "whsec_localstripe_demo" if STRIPE_LOCAL_STAND_IN else ""
)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
# Tag written into every PaymentIntent's metadata so audits only look at this shop's money.
STRIPE_METADATA_TAG = env("STRIPE_METADATA_TAG", default="convergent-shop")
STRIPE_DASHBOARD_URL = "https://dashboard.stripe.com/test" if not STRIPE_LOCAL_STAND_IN else ""

# dj-stripe
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
STRIPE_TEST_PUBLIC_KEY = STRIPE_PUBLISHABLE_KEY
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE
    # dj-stripe warns about a non-Stripe API host: that is the point of the stand-in.
    SILENCED_SYSTEM_CHECKS = ["djstripe.W002"] if STRIPE_LOCAL_STAND_IN else []
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

# --- Payment convergence policy -----------------------------------------------------------
PAYMENTS = {
    # A pending order younger than this is left to its own request.
    "GRACE_PERIOD": timedelta(seconds=env.int("PAYMENTS_GRACE_SECONDS", default=30)),
    # Past this an unpaid order is unwound. Must stay well inside Stripe's 24 h key window.
    "GIVE_UP_AFTER": timedelta(minutes=env.int("PAYMENTS_GIVE_UP_MINUTES", default=60)),
    # The customer's page says "this is taking longer than usual" after this.
    "LONG_WAIT": timedelta(seconds=env.int("PAYMENTS_LONG_WAIT_SECONDS", default=90)),
    "RECONCILE_BATCH_SIZE": env.int("PAYMENTS_RECONCILE_BATCH", default=100),
    # Orders one reconciler converges at once (threads), to overlap Stripe's round trips.
    "RECONCILE_CONCURRENCY": env.int("PAYMENTS_RECONCILE_CONCURRENCY", default=1),
    "RETRY_BASE": timedelta(seconds=env.int("PAYMENTS_RETRY_BASE_SECONDS", default=15)),
    "RETRY_MAX": timedelta(minutes=env.int("PAYMENTS_RETRY_MAX_MINUTES", default=10)),
    # How long one driver (a request or a reconciler) holds an order before others may.
    "DRIVER_LEASE": timedelta(seconds=env.int("PAYMENTS_LEASE_SECONDS", default=60)),
    # How long a dispatcher holds an outbox message; a dead one's message waits this long.
    "OUTBOX_LEASE": timedelta(seconds=env.int("PAYMENTS_OUTBOX_LEASE_SECONDS", default=120)),
    "AUDIT_WINDOW": timedelta(hours=env.int("PAYMENTS_AUDIT_HOURS", default=48)),
    # A scheduled sweep (reconciler, audit) stops after this share of django-q's task timeout
    # (Q_CLUSTER["timeout"]), gives back what it claimed, and leaves the rest to its next run.
    "SWEEP_TIME_BOX_SHARE": env.float("PAYMENTS_SWEEP_TIME_BOX_SHARE", default=0.5),
}
CART_MAX_QUANTITY = 20

# --- django-q2 ------------------------------------------------------------------------------
# Run with `manage.py run_worker` (qworker/): a supervised cluster that restarts when wedged.
Q_CLUSTER = {
    "name": "shop",
    # Where tasks wait: unset = this database (django-q2's ORM broker); a redis:// URL =
    # django-q2's Redis broker (the `redis` extra). Schedules and results stay in the database.
    **broker_settings(env("Q_BROKER_URL", default="")),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 180,  # must exceed timeout
    "max_attempts": 5,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.5,
    "sync": env.bool("Q_SYNC", default=False),
    "save_limit": 500,
    "label": "Task queue",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "stripe": {"level": "WARNING"},
        "djstripe": {"level": "WARNING"},
    },
}
