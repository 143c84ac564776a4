"""System checks that refuse what cannot work with real Stripe (issue 11, findings 4 and 5).

Each check fails on the bad settings and passes on good ones; the suite's own settings pass.
"""

import json
from datetime import timedelta

import pytest
import stripe
from django.core.checks import run_checks
from django.db import OperationalError, connections
from djstripe.models import WebhookEndpoint

from payments import checks
from payments.stand_in import seed_local_account
from tests.payments.stripe_api_fake import PUBLISHABLE_KEY, SECRET_KEY, key
from tests.payments.webhook_helpers import event_for, signed_headers


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def payments_messages(**kwargs) -> list[str]:
    # As `manage.py check` reports them: less what the settings acknowledge (the suite's
    # DEBUG-off stand-in, payments.E010, tested in tests/shop/test_production_settings.py).
    messages = [m for m in run_checks(**kwargs) if not m.is_silenced()]
    return [i for i in ids(messages) if i and i.startswith("payments.")]


def policy(settings, **changes):
    settings.PAYMENTS = {**settings.PAYMENTS, **changes}
    return ids(checks.check_payment_policy(None))


@pytest.mark.django_db
def test_the_suites_own_settings_pass_every_check_the_database_ones_included():
    assert payments_messages(databases=["default"]) == []
    serious = [
        m for m in run_checks(databases=["default"]) if m.is_serious() and not m.is_silenced()
    ]
    assert serious == []


# --- the give-up policy (finding 5: the settings half) ------------------------------------


def test_give_up_near_stripes_key_window_is_refused(settings):
    assert policy(settings, GIVE_UP_AFTER=timedelta(hours=20)) == ["payments.E001"]
    assert policy(settings, GIVE_UP_AFTER=timedelta(hours=11)) == []


def test_worker_retry_not_above_its_timeout_is_refused(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "retry": settings.Q_CLUSTER["timeout"]}
    assert ids(checks.check_payment_policy(None)) == ["payments.E002"]


@pytest.mark.parametrize("minutes", [0, -5])
def test_give_up_of_zero_or_less_is_refused_because_the_shop_would_never_call_stripe(
    settings, minutes
):
    assert policy(settings, GIVE_UP_AFTER=timedelta(minutes=minutes)) == ["payments.E003"]
    hint = checks.check_payment_policy(None)[0].hint
    assert "PAYMENTS_GIVE_UP_MINUTES to 30 or more" in hint


@pytest.mark.parametrize(
    "retry_max, too_short, long_enough",
    [
        (timedelta(minutes=10), timedelta(minutes=29), timedelta(minutes=30)),  # 3 x RETRY_MAX
        (timedelta(minutes=1), timedelta(minutes=14), timedelta(minutes=15)),  # the 15 min floor
    ],
)
def test_give_up_shorter_than_a_few_reconciler_periods_is_refused(
    settings, retry_max, too_short, long_enough
):
    assert policy(settings, RETRY_MAX=retry_max, GIVE_UP_AFTER=too_short) == ["payments.E004"]
    message = checks.check_payment_policy(None)[0]
    assert f"RETRY_MAX = {retry_max.total_seconds() / 60:g} min" in message.msg
    assert policy(settings, RETRY_MAX=retry_max, GIVE_UP_AFTER=long_enough) == []


def test_the_chaos_runs_policy_passes(settings):
    """bench/chaos runs with a 1 min RETRY_MAX and a 30 min give-up: it must stay valid."""
    assert (
        policy(settings, RETRY_MAX=timedelta(minutes=1), GIVE_UP_AFTER=timedelta(minutes=30)) == []
    )


# --- the keys (finding 4) -----------------------------------------------------------------


def real_keys(settings, secret=SECRET_KEY, publishable=PUBLISHABLE_KEY, webhook_secret=""):
    settings.STRIPE_LOCAL_STAND_IN = False
    settings.STRIPE_SECRET_KEY = secret
    settings.STRIPE_PUBLISHABLE_KEY = publishable
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_WEBHOOK_SECRET = webhook_secret
    return ids(checks.check_stripe_keys(None))


@pytest.mark.parametrize("mode", ["test", "live"])
def test_a_pair_of_real_keys_of_one_mode_passes(settings, mode):
    assert real_keys(settings, key("sk", mode), key("pk", mode)) == []


def test_a_secret_key_without_a_publishable_key_is_refused(settings):
    assert real_keys(settings, publishable="") == ["payments.E005"]
    assert real_keys(settings, secret="") == ["payments.E005"]
    message = checks.check_stripe_keys(None)[0]
    assert "STRIPE_PUBLISHABLE_KEY is set without STRIPE_SECRET_KEY" in message.msg


def test_a_restricted_key_is_refused(settings):
    assert real_keys(settings, secret=key("rk")) == ["payments.E006"]
    assert "every webhook would answer 500" in checks.check_stripe_keys(None)[0].msg


@pytest.mark.django_db
def test_a_restricted_key_makes_every_webhook_answer_500_which_is_why_it_is_refused(
    client, real_stripe
):
    """dj-stripe reads the account with the key on the first event; Stripe refuses it (403)."""
    real_stripe(secret=key("rk"))
    endpoint = WebhookEndpoint.objects.create(
        id="we_restricted",
        livemode=False,
        url="https://shop.example/",
        secret="whsec_restricted",
        enabled_events=["payment_intent.succeeded"],
        status="enabled",
        stripe_data={},
    )
    payload = json.dumps(event_for({"id": "pi_x", "object": "payment_intent"}, "charge.updated"))
    with pytest.raises(stripe.PermissionError):
        client.post(
            f"/stripe/webhook/{endpoint.djstripe_uuid}/",
            data=payload,
            content_type="application/json",
            **signed_headers(payload, secret="whsec_restricted"),
        )


@pytest.mark.parametrize(
    "secret, publishable, said",
    [
        (key("pk"), key("sk"), "it starts with pk_test_"),  # swapped
        (key("sk")[:20], key("pk"), "not followed by 24 or more letters and digits"),
        (f'"{key("sk")}"', key("pk"), "it does not start with sk_test_ or sk_live_"),
    ],
)
def test_a_key_that_is_not_of_its_kind_is_refused(settings, secret, publishable, said):
    assert "payments.E007" in real_keys(settings, secret, publishable)
    assert any(said in message.msg for message in checks.check_stripe_keys(None))


@pytest.mark.parametrize(
    "secret, publishable", [(key("sk", "test"), key("pk", "live")), (key("sk", "live"), key("pk"))]
)
def test_keys_of_different_modes_are_refused(settings, secret, publishable):
    assert real_keys(settings, secret, publishable) == ["payments.E008"]


def test_the_stand_in_needs_no_keys(settings):
    settings.STRIPE_LOCAL_STAND_IN = True
    assert ids(checks.check_stripe_keys(None)) == []


def test_a_webhook_secret_in_the_environment_with_real_keys_is_flagged_as_unused(settings):
    real_keys(settings, webhook_secret="whsec_from_the_dashboard")
    messages = checks.check_webhook_secret_setting(None)
    assert ids(messages) == ["payments.W001"]
    assert "WebhookEndpoint row" in messages[0].msg
    assert "setup_stripe_webhook" in messages[0].hint
    real_keys(settings, webhook_secret="")
    assert checks.check_webhook_secret_setting(None) == []
    settings.STRIPE_LOCAL_STAND_IN, settings.STRIPE_WEBHOOK_SECRET = True, "whsec_demo"
    assert checks.check_webhook_secret_setting(None) == []


# --- the demo database reused with real keys (finding 4) ----------------------------------


@pytest.mark.django_db
def test_the_demo_database_reused_with_real_keys_is_refused(settings):
    seed_local_account()
    assert ids(checks.check_stand_in_database(None, databases=["default"])) == []  # stand-in
    real_keys(settings)
    messages = checks.check_stand_in_database(None, databases=["default"])
    assert ids(messages) == ["payments.E009"]
    assert "pending orders would stay pending forever" in messages[0].msg
    assert "fresh database" in messages[0].hint
    # Not asked for database checks (runserver, plain `check`): it does not touch the database.
    assert checks.check_stand_in_database(None, databases=None) == []


@pytest.mark.django_db
def test_a_fresh_database_with_real_keys_passes(settings):
    real_keys(settings)
    assert checks.check_stand_in_database(None, databases=["default"]) == []


@pytest.mark.django_db
def test_an_unreachable_database_makes_the_check_warn_not_crash(settings, monkeypatch):
    real_keys(settings)

    def refused():
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(connections["default"].introspection, "table_names", refused)
    messages = checks.check_stand_in_database(None, databases=["default"])
    assert ids(messages) == ["payments.W002"]
    assert "Connection refused" in messages[0].msg


# --- the shared Stripe request budget ---------------------------------------------------------


def budget_messages(settings, **changes) -> list[str]:
    for name, value in changes.items():
        setattr(settings, name, value)
    return ids(checks.check_stripe_budget(None))


def test_the_default_budget_passes(settings):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = None
    assert budget_messages(settings) == []


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"STRIPE_BUDGET_BACKEND": "memcached"}, "payments.E020"),
        ({"STRIPE_BUDGET_BACKEND": "redis", "STRIPE_BUDGET_REDIS_URL": ""}, "payments.E021"),
        ({"STRIPE_RATE_LIMIT_PER_SECOND": 0.0}, "payments.E023"),
        ({"STRIPE_BACKGROUND_SHARE": 0.0}, "payments.E024"),
        ({"STRIPE_BACKGROUND_SHARE": 1.5}, "payments.E024"),
        ({"STRIPE_BUDGET_BURST": 1}, "payments.E025"),
        ({"STRIPE_RATE_LIMIT_PER_SECOND": 25.0, "STRIPE_BUDGET_BURST": 50}, "payments.E025"),
        ({"STRIPE_BUDGET_COOL_DOWN_SECONDS": 0.0}, "payments.E026"),
        ({"STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND": 0.0}, "payments.E027"),
    ],
)
def test_an_inconsistent_budget_is_refused(settings, changes, said):
    assert said in budget_messages(settings, **changes)


def test_a_redis_budget_without_the_redis_package_says_how_to_install_it(settings, monkeypatch):
    monkeypatch.setattr(checks, "_redis_installed", lambda: False)
    messages = budget_messages(
        settings, STRIPE_BUDGET_BACKEND="redis", STRIPE_BUDGET_REDIS_URL="redis://127.0.0.1/0"
    )
    assert messages == ["payments.E022"]


def test_a_rate_above_stripes_limit_for_the_keys_mode_is_flagged(settings):
    settings.STRIPE_LOCAL_STAND_IN = False
    settings.STRIPE_SECRET_KEY = key("sk", "test")
    assert budget_messages(settings, STRIPE_RATE_LIMIT_PER_SECOND=100.0) == ["payments.W021"]
    settings.STRIPE_SECRET_KEY = key("sk", "live")
    assert budget_messages(settings, STRIPE_RATE_LIMIT_PER_SECOND=100.0) == []
    assert budget_messages(settings, STRIPE_BUDGET_BACKEND="off") == ["payments.W020"]
