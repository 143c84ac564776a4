"""System checks of the payment settings (``manage.py check``, ``migrate`` and every start).

Each refuses a configuration that cannot work, with what the operator sees and what to do.
The one that reads the database (the demo's rows reused with real Stripe) runs only when
Django asks for database checks (``migrate``, ``check --database default``,
``setup_stripe_webhook``), never on an unreachable database (it warns instead).
"""

import math
from datetime import timedelta

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router
from djstripe.models import Account

from payments.stand_in import LOCAL_ACCOUNT_ID
from stripe_gateway import budget
from stripe_gateway.api_keys import key_shape
from stripe_gateway.keys import IDEMPOTENCY_WINDOW

# The reconciler runs every minute and backs a failing order off up to RETRY_MAX: give it
# at least three tries at that longest backoff, and never less than 15 of its runs, before
# an order is unwound, so that one fault (a minute of Stripe 500s, a lost reply) never
# cancels a good card.
GIVE_UP_FLOOR = timedelta(minutes=15)
GIVE_UP_RETRIES_AT_MAX = 3

SETUP_HINT = (
    "Set up the webhook endpoint with `manage.py setup_stripe_webhook --url https://your.shop/` "
    "(or `--local` for `stripe listen`), which stores its signing secret there."
)


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"


def _whole_minutes(delta: timedelta) -> int:
    return math.ceil(delta.total_seconds() / 60)


def give_up_floor() -> timedelta:
    return max(GIVE_UP_FLOOR, GIVE_UP_RETRIES_AT_MAX * settings.PAYMENTS["RETRY_MAX"])


@register()
def check_payment_policy(app_configs, **kwargs):
    """The give-up deadline: long enough for the reconciler, well inside Stripe's key window."""
    give_up = settings.PAYMENTS["GIVE_UP_AFTER"]
    errors = []
    if give_up >= IDEMPOTENCY_WINDOW / 2:
        errors.append(
            Error(
                "PAYMENTS['GIVE_UP_AFTER'] must be under 12 hours",
                hint="Stripe keeps idempotency keys for 24 hours; keep a wide margin.",
                id="payments.E001",
            )
        )
    if give_up <= timedelta(0):
        errors.append(
            Error(
                f"PAYMENTS['GIVE_UP_AFTER'] is {_minutes(give_up)}: every order is past its "
                "give-up deadline as soon as it is placed, so the shop never sends a payment "
                "to Stripe and cancels every order.",
                hint="Set PAYMENTS_GIVE_UP_MINUTES to "
                f"{_whole_minutes(give_up_floor())} or more (the default is 60).",
                id="payments.E003",
            )
        )
    elif give_up < give_up_floor():
        retry_max = settings.PAYMENTS["RETRY_MAX"]
        errors.append(
            Error(
                f"PAYMENTS['GIVE_UP_AFTER'] is {_minutes(give_up)}, shorter than "
                f"{_minutes(give_up_floor())}: an order whose payment met one fault (a "
                "Stripe 500, a lost reply) would be cancelled before the reconciler (every "
                f"minute, backing off up to RETRY_MAX = {_minutes(retry_max)}) had retried it "
                "a few times.",
                hint="Set PAYMENTS_GIVE_UP_MINUTES to "
                f"{_whole_minutes(give_up_floor())} or more: the larger of "
                f"{_minutes(GIVE_UP_FLOOR)} and {GIVE_UP_RETRIES_AT_MAX} x "
                "PAYMENTS_RETRY_MAX_MINUTES (the default is 60).",
                id="payments.E004",
            )
        )
    if settings.Q_CLUSTER["retry"] <= settings.Q_CLUSTER["timeout"]:
        errors.append(Error("Q_CLUSTER retry must exceed timeout", id="payments.E002"))
    return errors


@register()
def check_stripe_keys(app_configs, **kwargs):
    """Real Stripe keys: both of them, of their kind, of one mode, never a restricted key."""
    if settings.STRIPE_LOCAL_STAND_IN:
        return []
    secret, publishable = settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY
    if not secret or not publishable:
        given, missing = (
            ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY")
            if secret
            else ("STRIPE_PUBLISHABLE_KEY", "STRIPE_SECRET_KEY")
        )
        return [
            Error(
                f"{given} is set without {missing}: the checkout page cannot take a card "
                "(Stripe.js needs the publishable key, the server the secret key).",
                hint=f"Set {missing} to the key of the same mode shown beside the other one in "
                "the Dashboard (Developers > API keys); or unset both for the local stand-in.",
                id="payments.E005",
            )
        ]
    errors = []
    secret_shape, publishable_shape = key_shape(secret), key_shape(publishable)
    if secret_shape.kind == "rk":
        errors.append(
            Error(
                "STRIPE_SECRET_KEY is a restricted key (rk_...): dj-stripe reads the account "
                "(GET /v1/account) with it when the first webhook arrives, which no restricted "
                "key may do, so every webhook would answer 500.",
                hint="Use the account's secret key (sk_test_... or sk_live_...) from the "
                "Dashboard (Developers > API keys).",
                id="payments.E006",
            )
        )
    elif secret_shape.kind != "sk" or not secret_shape.valid:
        errors.append(
            Error(
                "STRIPE_SECRET_KEY is not a Stripe secret key "
                f"({_what_it_is(secret_shape, 'sk')}): dj-stripe refuses such a key, and "
                "every webhook would answer 500.",
                hint="Copy the secret key (sk_test_... or sk_live_...) from the Dashboard "
                "(Developers > API keys), without quotes or spaces.",
                id="payments.E007",
            )
        )
    if publishable_shape.kind != "pk" or not publishable_shape.valid:
        errors.append(
            Error(
                "STRIPE_PUBLISHABLE_KEY is not a Stripe publishable key "
                f"({_what_it_is(publishable_shape, 'pk')}): the checkout page could not take "
                "a card.",
                hint="Copy the publishable key (pk_test_... or pk_live_...) from the Dashboard "
                "(Developers > API keys), without quotes or spaces.",
                id="payments.E007",
            )
        )
    elif secret_shape.mode and secret_shape.mode != publishable_shape.mode:
        errors.append(
            Error(
                f"STRIPE_SECRET_KEY is a {secret_shape.mode} key but STRIPE_PUBLISHABLE_KEY a "
                f"{publishable_shape.mode} key: the checkout page would make each card in one "
                "mode and the server charge it in the other, so every payment fails.",
                hint="Use the two keys of one mode: sk_test_/pk_test_ or sk_live_/pk_live_.",
                id="payments.E008",
            )
        )
    return errors


def _what_it_is(shape, kind: str) -> str:
    if not shape.kind:
        return f"it does not start with {kind}_test_ or {kind}_live_"
    if shape.kind != kind:
        return f"it starts with {shape.kind}_{shape.mode}_"
    return "not followed by 24 or more letters and digits"


@register()
def check_webhook_secret_setting(app_configs, **kwargs):
    """With real keys STRIPE_WEBHOOK_SECRET is read by nothing: say where the secret lives."""
    if settings.STRIPE_LOCAL_STAND_IN or not settings.STRIPE_WEBHOOK_SECRET:
        return []
    return [
        Warning(
            "STRIPE_WEBHOOK_SECRET is set, but with real Stripe keys nothing reads it: "
            "dj-stripe verifies each webhook against the signing secret stored in its "
            "WebhookEndpoint row (the endpoint's URL names the row: /stripe/webhook/<uuid>/).",
            hint="Unset STRIPE_WEBHOOK_SECRET (it is for the local stand-in only). " + SETUP_HINT,
            id="payments.W001",
        )
    ]


@register(Tags.database)
def check_stand_in_database(app_configs, databases=None, **kwargs):
    """The demo database (the stand-in's rows) must not be reused with real Stripe."""
    alias = router.db_for_read(Account) or DEFAULT_DB_ALIAS
    if settings.STRIPE_API_BASE or not databases or alias not in databases:
        return []  # the stand-in, or no database checks asked for (Django's convention)
    try:
        connection = connections[alias]
        if Account._meta.db_table not in connection.introspection.table_names():
            return []  # not migrated yet: nothing of the stand-in's can be there
        found = Account.objects.using(alias).filter(id=LOCAL_ACCOUNT_ID).exists()
    except DatabaseError as exc:
        return [
            Warning(
                f"Could not look for the local stand-in's rows in database '{alias}': {exc}",
                hint="Start the database (or fix DATABASE_URL) and run "
                f"`manage.py check --database {alias}` again.",
                id="payments.W002",
            )
        ]
    if not found:
        return []
    return [
        Error(
            f"Database '{alias}' was used with the local Stripe stand-in (dj-stripe Account "
            f"'{LOCAL_ACCOUNT_ID}'), and the shop now talks to real Stripe: the stand-in's "
            "PaymentIntents do not exist there, so its pending orders would stay pending "
            "forever and the audit would report its paid orders as money Stripe never took.",
            hint="Use a fresh database for real Stripe: create one, point DATABASE_URL at it "
            "and run `manage.py migrate`. The demo database stays usable with the stand-in "
            "(Stripe keys unset).",
            id="payments.E009",
        )
    ]


@register(Tags.security)
def check_stand_in_outside_debug(app_configs, **kwargs):
    """The local Stripe stand-in, or any API base but Stripe's, is for DEBUG only."""
    if settings.DEBUG or not (settings.STRIPE_LOCAL_STAND_IN or settings.STRIPE_API_BASE):
        return []
    if settings.SHOP_DEMO and settings.STRIPE_LOCAL_STAND_IN:  # the demo, scripts/run
        return []
    what = (
        "No Stripe keys are set, so the shop talks to the local Stripe stand-in "
        f"({settings.STRIPE_API_BASE})"
        if settings.STRIPE_LOCAL_STAND_IN
        else f"STRIPE_API_BASE sends every Stripe call to {settings.STRIPE_API_BASE}"
    )
    return [
        Error(
            f"{what} with DEBUG off: no payment it takes is real, and its checkout page accepts "
            "any card number typed into the stand-in's form.",
            hint="Set STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY and unset STRIPE_API_BASE for "
            "real Stripe; or SHOP_DEMO=1 (or DJANGO_DEBUG=1) for the demo. A load test of the "
            "stand-in with DEBUG off may acknowledge this: "
            "DJANGO_SILENCED_SYSTEM_CHECKS=payments.E010.",
            id="payments.E010",
        )
    ]


def _redis_installed() -> bool:
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return True


@register()
def check_stripe_budget(app_configs, **kwargs):
    """The shared Stripe request budget: a store every host can reach, a rate and shares that
    keep checkout first and the account under Stripe's limit."""
    backend = getattr(settings, "STRIPE_BUDGET_BACKEND", "database")
    if backend not in budget.BACKENDS:
        return [
            Error(
                f"STRIPE_BUDGET_BACKEND is {backend!r}: the shop would not know where its "
                "Stripe request budget lives.",
                hint='Set STRIPE_BUDGET_BACKEND to "database" (the default), "redis" or "off".',
                id="payments.E020",
            )
        ]
    if backend == "off":
        if settings.STRIPE_LOCAL_STAND_IN:
            return []
        return [
            Warning(
                "STRIPE_BUDGET_BACKEND is off: checkouts, the reconciler, the audit and webhook "
                "handlers on every host spend Stripe's rate limit with nobody counting, and a "
                "sweep can crowd customers out with 429s.",
                hint="Unset STRIPE_BUDGET_BACKEND (the budget then lives in this database).",
                id="payments.W020",
            )
        ]
    errors = []
    if backend == "redis" and not getattr(settings, "STRIPE_BUDGET_REDIS_URL", ""):
        errors.append(
            Error(
                "STRIPE_BUDGET_BACKEND is redis but STRIPE_BUDGET_REDIS_URL is not set: no "
                "Stripe call could take a token, so checkout would go on uncounted and every "
                "background call would be refused.",
                hint="Set STRIPE_BUDGET_REDIS_URL=redis://host:6379/0 (the same Redis for every "
                'host), or STRIPE_BUDGET_BACKEND="database".',
                id="payments.E021",
            )
        )
    if backend == "redis" and not _redis_installed():
        errors.append(
            Error(
                "STRIPE_BUDGET_BACKEND is redis but the redis package is not installed.",
                hint="Install the extra: scripts/bootstrap --redis (pip install -e .[redis]).",
                id="payments.E022",
            )
        )
    rate = getattr(settings, "STRIPE_RATE_LIMIT_PER_SECOND", None)
    if rate is not None and rate <= 0:
        return errors + [
            Error(
                f"STRIPE_RATE_LIMIT_PER_SECOND is {rate:g}: no Stripe call could ever be made.",
                hint="Unset it (Stripe's limit for the key's mode: 25/s test, 100/s live).",
                id="payments.E023",
            )
        ]
    endpoint_rate = getattr(settings, "STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND", None)
    if endpoint_rate is not None and endpoint_rate <= 0:
        errors.append(
            Error(
                f"STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND is {endpoint_rate:g}: no Stripe call "
                "could ever be made.",
                hint="Unset it (Stripe's 25/s for one endpoint).",
                id="payments.E027",
            )
        )
    cfg = budget.config()
    limit = budget.default_rate()
    if cfg.rate > limit and not settings.STRIPE_LOCAL_STAND_IN:
        errors.append(
            Warning(
                f"STRIPE_RATE_LIMIT_PER_SECOND is {cfg.rate:g}, above Stripe's {limit:g}/s for "
                "this key's mode: the budget would let the shop run into 429s.",
                hint="Unset it, unless Stripe raised this account's limit in writing.",
                id="payments.W021",
            )
        )
    if not 0 < cfg.background_share <= 1:
        errors.append(
            Error(
                f"STRIPE_BACKGROUND_SHARE is {cfg.background_share:g}: it must be above 0 (or "
                "the reconciler, the audit and webhooks never reach Stripe) and at most 1.",
                hint="Set it between 0.1 and 1; the default 0.5 leaves half for checkouts.",
                id="payments.E024",
            )
        )
    if cfg.burst < 2 or cfg.burst > cfg.rate:
        errors.append(
            Error(
                f"STRIPE_BUDGET_BURST is {cfg.burst}: it must be at least 2 (background work "
                "leaves part of the burst to checkout, and with 1 it could never go) and at "
                f"most the rate ({cfg.rate:g}), or one burst is over Stripe's limit already.",
                hint="Unset it (the rate / 5).",
                id="payments.E025",
            )
        )
    if cfg.checkout_wait < 0 or cfg.background_wait < 0 or cfg.cool_down <= 0:
        errors.append(
            Error(
                "STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS, STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS "
                "must be 0 or more and STRIPE_BUDGET_COOL_DOWN_SECONDS above 0.",
                hint="Unset them (2 s, 5 s and 1 s).",
                id="payments.E026",
            )
        )
    return errors
