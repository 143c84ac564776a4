"""Settings for the storefront, read from the environment (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE

from qworker.brokers import broker_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The demo (scripts/run): its staff logins and the local Stripe stand-in, with DEBUG off so that
# customers see the shop's own error pages. On by default only with DEBUG; the system checks
# refuse it with real Stripe keys (shop.E003), so a real shop cannot run with it.
SHOP_DEMO = env.bool("SHOP_DEMO", default=DEBUG)
# The demo's key, refused outside DEBUG and the demo by the system checks (shop.E001).
DEMO_SECRET_KEY = "insecure-demo-key-change-me"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEMO_SECRET_KEY if DEBUG else None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Where the shop is reachable from Stripe's side (used to register webhooks locally).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "shop.admin_config.ShopAdminConfig",  # django.contrib.admin, the shop's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",  # needed by flatpages
    "django.contrib.flatpages",  # terms, privacy and returns pages, edited by staff
    "django_q",
    "djstripe",
    "django_countries",
    "django_ratelimit",  # its system checks refuse a cache that cannot count across workers
    "axes",  # admin login lockout (settings below)
    "ratelimits",
    "stripe_gateway",
    "catalog",
    "shop",
    "orders",
    "payments",
    "qworker",
]

MIDDLEWARE = [
    "shop.middleware.RequestIdMiddleware",  # first: every later log line carries the request id
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from gunicorn (after SecurityMiddleware, before everything else).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "shop.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns its lockout of a login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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
# WhiteNoise serves what `collectstatic` put in STATIC_ROOT (scripts/run runs it), gzipped.
# Not the Manifest storage: a page must render even where collectstatic did not run (the
# benchmarks' servers), and {% static %} with a missing manifest is a 500.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded product images and their thumbnails.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
# The shop serves MEDIA_ROOT itself (shop/urls.py, Django's static.serve: path-safe, one
# thread per download): right for a small shop; set False when a front server or a bucket
# serves /media/.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=True)
# Product image uploads: larger files are refused with a message (not resized).
PRODUCT_IMAGE_MAX_BYTES = env.int("PRODUCT_IMAGE_MAX_BYTES", default=5 * 1024 * 1024)

# --- The shop's identity, shown in the header and footer -----------------------------------
SHOP_NAME = env("SHOP_NAME", default="Convergent Shop")
SHOP_EMAIL = env("SHOP_EMAIL", default="hello@convergent-shop.example")  # contact form goes here
SHOP_ADDRESS = env("SHOP_ADDRESS", default="12 Harbour Street, 1000 Brussels, Belgium")
SHOP_PHONE = env("SHOP_PHONE", default="+32 2 555 01 23")

SESSION_ENGINE = "shop.sessions"  # database sessions, saved without a transaction of their own
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Production: HTTPS, cookies, headers (README "Running in production") -----------------
# Every `check --deploy` warning is answered by a variable. Secure by default: with DEBUG off
# the shop redirects to https, sends HSTS for a year and marks its cookies Secure unless told
# otherwise; with DEBUG on (the demo, plain http on loopback) all of that is off.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
# Preloading is a promise to browsers that is slow to take back: opt in explicitly.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy that terminates TLS: the header it sets and its value for https, e.g.
# DJANGO_SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto:https. Unset: trust no header (a client
# could forge it when nothing in front strips it).
_proxy_ssl_header = env("DJANGO_SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    _name, _, _value = _proxy_ssl_header.partition(":")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())
_secure_cookies = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=_secure_cookies)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=_secure_cookies)
# An operator may acknowledge a check for a reason of their own (e.g. a load test of the
# stand-in with DEBUG off: payments.E010), by id, in DJANGO_SILENCED_SYSTEM_CHECKS.
SILENCED_SYSTEM_CHECKS = env.list("DJANGO_SILENCED_SYSTEM_CHECKS", default=[])
# The load balancer probes /healthz over plain http: no redirect for it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# /healthz answers 503 when no worker ran its heartbeat task for this long (seconds).
HEALTHZ_HEARTBEAT_MAX_AGE = env.int("HEALTHZ_HEARTBEAT_MAX_AGE", default=180)
# Bearer token that /metrics asks for; unset, /metrics answers 404.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# --- end production ------------------------------------------------------------------------

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Convergent Shop <orders@shop.invalid>")
# The flatpages' site (shop 0004 creates it).
SITE_ID = 1

# --- Abuse controls (README "Abuse controls") ----------------------------------------------
# The cache every process shares: the rate limits count in it. CACHE_URL=redis://... for
# Redis (the `redis` extra); otherwise a table of this database (made by migrate), with an
# atomic increment (ratelimits/cache.py). Never per-process memory: each gunicorn worker
# would count alone.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="dbcache://shop_cache")
    if env("CACHE_URL", default="")
    else {
        "BACKEND": "ratelimits.cache.AtomicDatabaseCache",
        "LOCATION": "shop_cache",
        # Live counters are culled only past this many entries; the hourly sweep deletes
        # expired ones (payments.tasks.sweep_abuse_leftovers).
        "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=50_000)},
    }
}
if CACHES["default"]["BACKEND"] in (
    "ratelimits.cache.AtomicDatabaseCache",
    "django.core.cache.backends.redis.RedisCache",
):
    # django-ratelimit lists neither as "officially supported"; both increment atomically.
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "django_ratelimit.W001"]
# Who a request comes from: REMOTE_ADDR unless a proxy we run writes a header naming the
# client (e.g. X-Forwarded-For, with the number of our proxies that append to it).
CLIENT_IP_HEADER = env("CLIENT_IP_HEADER", default="")
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
RATELIMIT_IP_META_KEY = "ratelimits.client.ratelimit_ip"
# Per form: (what is counted, "count/period"). Only POSTs count.
RATE_LIMITS = {
    "checkout": [
        ("ip", env("RATE_LIMIT_CHECKOUT_IP", default="20/10m")),
        ("email", env("RATE_LIMIT_CHECKOUT_EMAIL", default="5/h")),
    ],
    "contact": [
        ("ip", env("RATE_LIMIT_CONTACT_IP", default="5/10m")),
        ("email", env("RATE_LIMIT_CONTACT_EMAIL", default="3/h")),
    ],
}
# Admin login lockout (django-axes): 5 failures for one username from one address lock that
# pair out for 15 minutes; staff see and delete lockouts under "Axes" in the admin.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "ratelimits.client.axes_ip"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
# Webhooks: Stripe's events are a few KB; bigger bodies are refused unread (413).
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# dj-stripe's record of each webhook request: kept this long (the hourly sweep deletes older).
WEBHOOK_UNVERIFIED_KEEP = timedelta(hours=env.int("WEBHOOK_UNVERIFIED_KEEP_HOURS", default=24))
WEBHOOK_PROCESSED_KEEP = timedelta(days=env.int("WEBHOOK_PROCESSED_KEEP_DAYS", default=30))

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

# One budget of Stripe requests for the account, shared by every process and host
# (stripe_gateway/budget.py; README "Stripe request budget"). Kept in this database, or in
# Redis with STRIPE_BUDGET_BACKEND=redis and STRIPE_BUDGET_REDIS_URL (the `redis` extra).
STRIPE_BUDGET_BACKEND = env("STRIPE_BUDGET_BACKEND", default="database")  # or "redis", "off"
STRIPE_BUDGET_REDIS_URL = env("STRIPE_BUDGET_REDIS_URL", default="")
# Unset: Stripe's own limit for the key's mode, 25/s in test mode, 100/s live.
STRIPE_RATE_LIMIT_PER_SECOND = env.float("STRIPE_RATE_LIMIT_PER_SECOND", default=None)
# Stripe's limit for one endpoint (a create, a confirm, PaymentIntent reads), live mode too;
# a call takes a token of its endpoint's own only where this is below the account's rate.
STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND = env.float(
    "STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND", default=None
)  # unset: 25
# The most webhooks, staff, the reconciler and the audit may spend together; checkout first.
STRIPE_BACKGROUND_SHARE = env.float("STRIPE_BACKGROUND_SHARE", default=0.5)
STRIPE_BUDGET_BURST = env.int("STRIPE_BUDGET_BURST", default=None)  # unset: rate / 5, at least 2
STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS = env.float("STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS", default=2.0)
STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS = env.float(
    "STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS", default=5.0
)
STRIPE_BUDGET_COOL_DOWN_SECONDS = env.float("STRIPE_BUDGET_COOL_DOWN_SECONDS", default=1.0)

# dj-stripe
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
STRIPE_TEST_PUBLIC_KEY = STRIPE_PUBLISHABLE_KEY
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE
    # dj-stripe warns about a non-Stripe API host: that is the point of the stand-in.
    if STRIPE_LOCAL_STAND_IN:
        SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "djstripe.W002"]
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

# --- Logging (README "Running in production": log format) ----------------------------------
# One line per event, once: JSON in production (every `extra` field and the request, order,
# idempotency key and PaymentIntent of the work in progress, from orders.logcontext), or the
# same fields as key=value after the message for people (the demo's default).
LOG_FORMAT = env("LOG_FORMAT", default="text" if DEBUG else "json")
REQUEST_ID_HEADER = env("DJANGO_REQUEST_ID_HEADER", default="")  # e.g. X-Request-ID
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "orders.logcontext.ContextFilter"}},
    "formatters": {
        "text": {
            "()": "shop.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) printed each django.* line a second time
        # beside the root's: its lines go to the root handler alone.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "stripe": {"level": "WARNING"},
        "djstripe": {"level": "WARNING"},
    },
}
# --- end logging ---------------------------------------------------------------------------

# --- Content-Security-Policy (django-csp 4.x; README "Running in production") ---------------
# Nothing runs or loads but the shop's own files, the inline blocks carrying this response's
# nonce, and Stripe.js with what Stripe's CSP guidance lists for it (its frames for 3-D Secure
# and card fields, its API, m.stripe.network). shop.middleware adds the local stand-in's
# origin when the shop talks to it, read at each request.
_STRIPE_JS = ["https://js.stripe.com", "https://*.js.stripe.com"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE, *_STRIPE_JS],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:", "https://*.stripe.com"],
        "connect-src": ["'self'", "https://api.stripe.com", "https://m.stripe.network"],
        "frame-src": [*_STRIPE_JS, "https://hooks.stripe.com", "https://m.stripe.network"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# --- end Content-Security-Policy -----------------------------------------------------------
