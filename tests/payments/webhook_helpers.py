"""Build and deliver Stripe-signed webhook events the way Stripe does."""

import hashlib
import hmac
import json
import secrets
import time

from django.conf import settings

from payments.stand_in import seed_local_account, webhook_url


def signed_headers(
    payload: str, *, secret: str | None = None, timestamp: int | None = None
) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    secret = secret or settings.STRIPE_WEBHOOK_SECRET
    signature = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return {"HTTP_STRIPE_SIGNATURE": f"t={timestamp},v1={signature}"}


def event_for(obj: dict, event_type: str, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
        "request": {"id": None, "idempotency_key": None},
    }


def deliver(client, event: dict, **signing):
    """POST the event to the shop's dj-stripe endpoint, signed unless told otherwise."""
    endpoint = seed_local_account()
    payload = json.dumps(event)
    headers = signed_headers(payload, **signing)
    return client.post(
        webhook_url(endpoint, ""), data=payload, content_type="application/json", **headers
    )
