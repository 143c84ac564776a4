"""Wire the shop to the local Stripe stand-in (localstripe): never used with real Stripe.

localstripe has no ``/v1/account``, which dj-stripe asks for when it first meets an API key,
so the Account and APIKey rows are seeded here; and it sends webhooks only to URLs
registered through its ``/_config/webhooks`` endpoint, so the shop's endpoint is registered.
"""

import json
import urllib.request

from django.conf import settings
from django.db import transaction
from djstripe.models import Account, APIKey, WebhookEndpoint

from payments.webhooks import PAYMENT_INTENT_EVENTS, REFUND_EVENTS

LOCAL_ACCOUNT_ID = "acct_localstripe"
LOCAL_ENDPOINT_ID = "we_localstripe"
WEBHOOK_EVENTS = [*PAYMENT_INTENT_EVENTS, *REFUND_EVENTS]


def seed_local_account() -> WebhookEndpoint:
    """Create (or keep) the dj-stripe rows the stand-in cannot provide; return the endpoint."""
    with transaction.atomic():
        account, _ = Account.objects.get_or_create(
            id=LOCAL_ACCOUNT_ID,
            defaults={
                "livemode": False,
                "stripe_data": {
                    "id": LOCAL_ACCOUNT_ID,
                    "object": "account",
                    "settings": {"dashboard": {"display_name": "Local Stripe stand-in"}},
                },
            },
        )
        api_key, _ = APIKey.objects.get_or_create(
            secret=settings.STRIPE_SECRET_KEY,
            defaults={"livemode": False, "name": "localstripe", "type": "secret"},
        )
        if api_key.djstripe_owner_account_id != account.pk:
            api_key.djstripe_owner_account = account
            api_key.save(update_fields=["djstripe_owner_account"])
        endpoint, _ = WebhookEndpoint.objects.update_or_create(
            id=LOCAL_ENDPOINT_ID,
            defaults={
                "livemode": False,
                "url": settings.SITE_URL,
                "secret": settings.STRIPE_WEBHOOK_SECRET,
                "enabled_events": WEBHOOK_EVENTS,
                "status": "enabled",
                "stripe_data": {},
                "djstripe_owner_account": account,
            },
        )
    return endpoint


def webhook_url(endpoint: WebhookEndpoint, site_url: str) -> str:
    return f"{site_url.rstrip('/')}/stripe/webhook/{endpoint.djstripe_uuid}/"


def register_local_webhook(*, site_url: str, api_base: str) -> str:
    """Seed the rows and tell the stand-in to post its events to the shop; return the URL."""
    endpoint = seed_local_account()
    url = webhook_url(endpoint, site_url)
    body = json.dumps(
        {"url": url, "secret": settings.STRIPE_WEBHOOK_SECRET, "events": WEBHOOK_EVENTS}
    ).encode()
    request = urllib.request.Request(
        f"{api_base.rstrip('/')}/_config/webhooks/{LOCAL_ENDPOINT_ID}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        response.read()
    return url
