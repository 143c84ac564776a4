"""``manage.py setup_stripe_webhook`` against Stripe's webhook-endpoint API (issue 11, finding 4).

localstripe has no ``/v1/webhook_endpoints`` and no ``/v1/account``: Stripe is faked at the
HTTP client under the SDK (``tests/payments/stripe_api_fake.py``), dj-stripe runs for real.
"""

import json
import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from djstripe.models import APIKey, WebhookEndpoint
from djstripe.settings import djstripe_settings

from orders.models import OrderStatus, UnmatchedPaymentEvent
from payments.stand_in import seed_local_account
from payments.stripe_setup import WEBHOOK_EVENTS
from payments.webhooks import PAYMENT_INTENT_EVENTS, REFUND_EVENTS
from tests.payments.stripe_api_fake import ACCOUNT_ID, KNOWN_EVENTS, key
from tests.payments.webhook_helpers import event_for, signed_headers

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"
URL = re.compile(r"^  (\S+/stripe/webhook/([0-9a-f-]{36})/)$", re.M)


def setup(*args, checks: bool = False) -> str:
    out = StringIO()
    call_command("setup_stripe_webhook", *args, stdout=out, skip_checks=not checks)
    return out.getvalue()


def printed_url(out: str) -> str:
    return URL.search(out).group(1)


def post_event(client, url: str, event: dict, secret: str):
    payload = json.dumps(event)
    path = urlsplit(url).path  # Stripe posts to the whole URL; the test client takes the path
    return client.post(
        path,
        data=payload,
        content_type="application/json",
        **signed_headers(payload, secret=secret),
    )


def test_the_shop_handles_exactly_the_events_it_subscribes_and_stripe_knows_them():
    assert WEBHOOK_EVENTS == [*PAYMENT_INTENT_EVENTS, *REFUND_EVENTS]
    assert "*" not in WEBHOOK_EVENTS
    assert set(WEBHOOK_EVENTS) <= KNOWN_EVENTS


def test_setup_creates_the_endpoint_at_stripe_with_exactly_the_shops_events(real_stripe):
    stripe = real_stripe()
    out = setup("--url", f"{SHOP}/")
    [at_stripe] = stripe.endpoints.values()
    url = printed_url(out)
    row = WebhookEndpoint.objects.get()
    assert at_stripe["enabled_events"] == WEBHOOK_EVENTS  # never "*"
    assert at_stripe["url"] == url == f"{SHOP}/stripe/webhook/{row.djstripe_uuid}/"
    assert at_stripe["metadata"] == {"djstripe_uuid": str(row.djstripe_uuid)}
    assert at_stripe["api_version"] == djstripe_settings.STRIPE_API_VERSION
    assert row.id == at_stripe["id"] and row.secret == stripe.secrets[row.id]
    assert row.enabled_events == WEBHOOK_EVENTS and row.status == "enabled"
    assert row.djstripe_owner_account_id == ACCOUNT_ID
    assert APIKey.objects.get(secret=stripe.api_key).djstripe_owner_account_id == ACCOUNT_ID
    assert stripe.hosts == {"api.stripe.com"}
    assert stripe.stripe_versions == {djstripe_settings.STRIPE_API_VERSION}
    assert f"{row.id} created in Stripe, test mode" in out
    assert "STRIPE_WEBHOOK_SECRET is not used" in out


@pytest.mark.django_db(transaction=True)
def test_a_pending_order_is_paid_by_an_event_posted_to_the_printed_url_with_no_stripe_call(
    client, checkout, faults, stripe_api, real_stripe
):
    """What Stripe will do after the set-up: post a signed event to the URL the command printed.

    dj-stripe verifies it with the secret the command stored and knows the account already, so
    the webhook itself makes no Stripe call (no GET /v1/account on the first event).
    """
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = checkout()  # charged by the stand-in, the reply lost: pending on our side
    assert order.status == OrderStatus.PAYMENT_STARTING
    paid = stripe_api.payment_intent(order.payment_intent_id)
    stripe = real_stripe()
    url = printed_url(setup("--url", f"{SHOP}/"))
    secret = WebhookEndpoint.objects.get().secret
    calls_before = len(stripe.calls)
    event = event_for(paid, "payment_intent.succeeded")
    assert post_event(client, url, event, secret="whsec_someone_else").status_code == 400
    assert post_event(client, url, event, secret=secret).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(stripe.calls) == calls_before


def test_running_it_again_changes_nothing_at_stripe(real_stripe):
    stripe = real_stripe()
    first = setup("--url", f"{SHOP}/")
    row = WebhookEndpoint.objects.get()
    writes = list(stripe.writes())
    again = setup("--url", f"{SHOP}/")
    assert stripe.writes() == writes  # no create, no update, no delete
    assert printed_url(again) == printed_url(first)
    assert WebhookEndpoint.objects.get().secret == row.secret
    assert f"{row.id} unchanged" in again


def test_an_endpoint_changed_in_the_dashboard_is_brought_back_to_the_shops_events(real_stripe):
    stripe = real_stripe()
    setup("--url", f"{SHOP}/")
    row = WebhookEndpoint.objects.get()
    stripe.endpoints[row.id].update(enabled_events=["*"], status="disabled")
    out = setup("--url", f"{SHOP}/")
    method, path, params = stripe.writes()[-1]
    assert (method, path) == ("POST", f"/v1/webhook_endpoints/{row.id}")
    assert params["enabled_events"] == WEBHOOK_EVENTS and params["disabled"] == "false"
    assert stripe.endpoints[row.id]["enabled_events"] == WEBHOOK_EVENTS
    assert stripe.endpoints[row.id]["status"] == "enabled"
    stored = WebhookEndpoint.objects.get()
    assert stored.secret == row.secret  # Stripe sends it on creation only: kept
    assert stored.enabled_events == WEBHOOK_EVENTS and stored.status == "enabled"
    assert f"{row.id} updated" in out


def test_moving_the_shop_to_https_keeps_its_endpoint_and_secret(real_stripe):
    stripe = real_stripe()
    setup("--url", "http://shop.example/")  # test mode takes http
    row = WebhookEndpoint.objects.get()
    out = setup("--url", f"{SHOP}/")
    assert set(stripe.endpoints) == {row.id}
    assert stripe.endpoints[row.id]["url"] == printed_url(out).replace("http://", "https://")
    assert printed_url(out) == f"{SHOP}/stripe/webhook/{row.djstripe_uuid}/"
    assert WebhookEndpoint.objects.get().secret == row.secret


def test_a_shop_endpoint_whose_secret_this_database_lacks_is_replaced(real_stripe):
    """E.g. made by a run whose reply was lost, or in the Dashboard: its events cannot verify."""
    stripe = real_stripe()
    lost = stripe.add_endpoint(
        f"http://shop.example/stripe/webhook/{'1' * 8}-1111-1111-1111-{'1' * 12}/", ["*"]
    )
    elsewhere = stripe.add_endpoint("https://staging.shop.example/hooks/", ["charge.succeeded"])
    out = setup("--url", f"{SHOP}/")
    row = WebhookEndpoint.objects.get()
    assert set(stripe.endpoints) == {row.id, elsewhere["id"]}
    assert f"Deleted the shop's other endpoint {lost['id']} at Stripe." in out
    assert stripe.endpoints[row.id]["enabled_events"] == WEBHOOK_EVENTS


def test_an_endpoint_deleted_at_stripe_is_created_again(real_stripe):
    stripe = real_stripe()
    setup("--url", f"{SHOP}/")
    gone = WebhookEndpoint.objects.get()
    stripe.endpoints.clear()
    out = setup("--url", f"{SHOP}/")
    row = WebhookEndpoint.objects.get()
    assert row.id != gone.id and set(stripe.endpoints) == {row.id}
    assert f"Forgot endpoint {gone.id}: Stripe no longer has it." in out


@pytest.mark.parametrize(
    "args, said",
    [
        ([], "--url is required"),
        (["--url", "http://127.0.0.1:8000/"], "is not reachable from Stripe"),
        (["--url", "https://10.0.0.7/"], "is not reachable from Stripe"),
        (["--url", "https://shop/"], "is not reachable from Stripe"),
        (["--url", "https://shop.example/store/"], "the webhook path /stripe/webhook/<uuid>/"),
        (["--url", "shop.example"], "--url must be the shop's address"),
        (["--url", f"{SHOP}/", "--secret", "whsec_x"], "--secret is for --local only"),
        (["--local"], "--local needs --secret"),
        (["--local", "--secret", "sk_test_x"], "--local needs --secret"),
    ],
)
def test_bad_arguments_are_refused_as_usage_errors(real_stripe, args, said):
    stripe = real_stripe()
    with pytest.raises(CommandError, match=re.escape(said)) as refused:
        setup(*args)
    assert refused.value.returncode == 2
    assert stripe.calls == []


def test_a_public_url_that_is_not_https_is_refused_in_live_mode(real_stripe):
    stripe = real_stripe(key("sk", "live"), key("pk", "live"))
    with pytest.raises(CommandError, match="in live mode Stripe posts events only to an https"):
        setup("--url", "http://shop.example/")
    with pytest.raises(CommandError, match="--local is for test mode"):
        setup("--local", "--secret", "whsec_x")
    assert stripe.calls == []
    setup("--url", f"{SHOP}/")
    assert WebhookEndpoint.objects.get().livemode is True


def test_the_stand_in_is_refused_with_the_command_it_needs(settings):
    assert settings.STRIPE_LOCAL_STAND_IN
    with pytest.raises(CommandError, match="No Stripe keys are set") as refused:
        setup("--url", f"{SHOP}/")
    assert refused.value.returncode == 1
    assert "connect_local_stripe" in str(refused.value)


def test_real_keys_with_stripe_api_base_set_are_refused(real_stripe, settings):
    real_stripe()
    settings.STRIPE_API_BASE = "http://127.0.0.1:8420"
    with pytest.raises(CommandError, match="Unset STRIPE_API_BASE for real Stripe"):
        setup("--url", f"{SHOP}/")


def test_a_restricted_key_is_refused_by_the_checks_and_by_the_command(real_stripe):
    stripe = real_stripe(key("rk"))
    with pytest.raises(SystemCheckError, match=r"payments\.E006"):
        setup("--url", f"{SHOP}/", checks=True)
    with pytest.raises(CommandError, match="restricted key") as refused:
        setup("--url", f"{SHOP}/")  # --skip-checks
    assert refused.value.returncode == 1
    assert stripe.calls == []


def test_the_demo_database_is_refused_before_anything_is_created_at_stripe(real_stripe):
    seed_local_account()
    stripe = real_stripe()
    with pytest.raises(SystemCheckError, match=r"payments\.E009"):
        setup("--url", f"{SHOP}/", checks=True)
    assert stripe.calls == []


def test_a_fresh_database_passes_the_checks_the_command_runs(real_stripe):
    stripe = real_stripe()
    setup("--url", f"{SHOP}/", checks=True)
    assert len(stripe.endpoints) == 1


def test_a_key_stripe_refuses_is_said_plainly(real_stripe):
    stripe = real_stripe(stripe_accepts=key("sk").replace("Setup", "Other"))
    with pytest.raises(CommandError, match=r"Stripe refused STRIPE_SECRET_KEY \(401") as refused:
        setup("--url", f"{SHOP}/")
    assert refused.value.returncode == 1
    assert [call[:2] for call in stripe.calls] == [("GET", "/v1/account")]
    assert not WebhookEndpoint.objects.exists()


# --- local work: `stripe listen` ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_local_path_stores_an_endpoint_for_stripe_listen_and_prints_its_command(
    client, real_stripe, settings
):
    stripe = real_stripe()
    out = setup("--local", "--secret", "whsec_cli_session")
    url = printed_url(out)
    row = WebhookEndpoint.objects.get()
    assert url == f"{settings.SITE_URL}/stripe/webhook/{row.djstripe_uuid}/"
    assert row.id.startswith("djstripe_whfwd_") and row.secret == "whsec_cli_session"
    assert row.enabled_events == WEBHOOK_EVENTS
    assert row.djstripe_owner_account_id == ACCOUNT_ID
    assert stripe.writes() == []  # nothing is created at Stripe
    command = (
        f'stripe listen --api-key "$STRIPE_SECRET_KEY" --events {",".join(WEBHOOK_EVENTS)} '
        f"--forward-to {url}"
    )
    assert f"  {command}\n" in out
    assert printed_url(setup("--local", "--secret", "whsec_cli_session")) == url  # stable
    # What `stripe listen` does: sign with its session secret, post to --forward-to.
    event = event_for({"id": "pi_cli", "object": "payment_intent"}, "payment_intent.canceled")
    assert post_event(client, url, event, secret="whsec_cli_session").status_code == 200
    assert UnmatchedPaymentEvent.objects.filter(stripe_id=event["id"]).exists()
