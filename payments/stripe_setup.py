"""Wire the shop to real Stripe: its keys and its webhook endpoint (``setup_stripe_webhook``).

The endpoint is created at Stripe and stored the way dj-stripe's own admin form does it
(``djstripe.admin.forms.WebhookEndpointAdminCreateForm``): ``WebhookEndpoint._api_create``
with the dj-stripe UUID in the endpoint's metadata, then ``sync_from_stripe_data`` with the
answer, which carries the signing secret (Stripe returns it on creation only). dj-stripe
verifies every webhook against that row's secret, never against ``STRIPE_WEBHOOK_SECRET``.

Unlike the admin form, it subscribes exactly the events the shop handles (never ``*``: each
extra event is a request dj-stripe stores and may read back from Stripe), and it is
idempotent: run again, it keeps the endpoint whose secret this database holds and deletes
the shop's other endpoints at the same address.

The Stripe calls go through dj-stripe's model classes: ``payments`` may not import the
stripe SDK itself (the layer contracts in ``pyproject.toml``).
"""

import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.db import transaction
from django.urls import reverse
from djstripe.enums import WebhookEndpointStatus
from djstripe.models import Account, WebhookEndpoint
from djstripe.settings import djstripe_settings

from payments.webhooks import PAYMENT_INTENT_EVENTS, REFUND_EVENTS
from stripe_gateway.api_keys import KeyShape, key_shape

# Exactly the events payments/webhooks.py applies.
WEBHOOK_EVENTS = [*PAYMENT_INTENT_EVENTS, *REFUND_EVENTS]
# dj-stripe's prefix for endpoints that exist only here, fed by `stripe listen`
# (djstripe/management/commands/stripe_listen.py).
LOCAL_FORWARD_PREFIX = "djstripe_whfwd_"


class SetupRefused(Exception):
    """The set-up cannot go on; ``usage`` when the operator's arguments are at fault."""

    def __init__(self, message: str, *, usage: bool = False):
        super().__init__(message)
        self.usage = usage


def refuse_stand_in(settings) -> None:
    if settings.STRIPE_LOCAL_STAND_IN:
        raise SetupRefused(
            "No Stripe keys are set: the shop talks to the local stand-in at "
            f"{settings.STRIPE_API_BASE}, which has no webhook endpoints API. For the stand-in "
            "run `manage.py connect_local_stripe`; for real Stripe set STRIPE_SECRET_KEY and "
            "STRIPE_PUBLISHABLE_KEY."
        )
    if settings.STRIPE_API_BASE:
        raise SetupRefused(
            f"STRIPE_API_BASE is set ({settings.STRIPE_API_BASE}): the shop talks to it, not to "
            "real Stripe. Unset STRIPE_API_BASE for real Stripe; for the local stand-in unset "
            "the keys and run `manage.py connect_local_stripe`."
        )


def secret_key_shape(settings) -> KeyShape:
    """The secret key's shape, or a refusal for a key dj-stripe's webhooks cannot work with."""
    shape = key_shape(settings.STRIPE_SECRET_KEY)
    if shape.kind == "rk":
        raise SetupRefused(
            "STRIPE_SECRET_KEY is a restricted key (rk_...): dj-stripe reads the account "
            "(GET /v1/account) with it, which no restricted key may do, so every webhook "
            "would answer 500. Use the account's secret key (sk_test_... or sk_live_...)."
        )
    if shape.kind != "sk" or not shape.valid:
        raise SetupRefused(
            "STRIPE_SECRET_KEY is not a Stripe secret key (sk_test_... or sk_live_... "
            "followed by 24 or more letters and digits): see `manage.py check`."
        )
    return shape


def webhook_path(endpoint_uuid) -> str:
    """The path dj-stripe's webhook view answers for an endpoint (``/stripe/webhook/<uuid>/``)."""
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})


def _webhook_uuid(url: str, host: str) -> uuid.UUID | None:
    """The dj-stripe UUID in ``url`` if it is this shop's webhook URL at ``host``."""
    parts = urlsplit(url)
    if parts.netloc.lower() != host:
        return None
    prefix = webhook_path(uuid.UUID(int=0)).removesuffix(f"{uuid.UUID(int=0)}/")
    rest = parts.path.removeprefix(prefix) if parts.path.startswith(prefix) else ""
    try:
        return uuid.UUID(rest.removesuffix("/")) if rest.endswith("/") else None
    except ValueError:
        return None


def _reachable_from_stripe(hostname: str) -> bool:
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:  # a name: not localhost, not a single label (an intranet name)
        return hostname != "localhost" and not hostname.endswith(".localhost") and "." in hostname
    return address.is_global


def parse_origin(url: str, *, live: bool, local: bool) -> str:
    """``scheme://host[:port]`` of the shop as Stripe (or ``stripe listen``) reaches it."""
    parts = urlsplit(url or "")
    example = "http://127.0.0.1:8000" if local else "https://shop.example"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupRefused(
            f"--url must be the shop's address, e.g. {example}/ (got {url!r})", usage=True
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise SetupRefused(
            f"--url is the shop's address only, e.g. {example}/: the webhook path "
            "/stripe/webhook/<uuid>/ is added to it.",
            usage=True,
        )
    if not local and not _reachable_from_stripe(parts.hostname):
        raise SetupRefused(
            f"{url} is not reachable from Stripe (a loopback, private or single-label "
            "address). For local work forward events with the Stripe CLI: "
            "`manage.py setup_stripe_webhook --local --secret "
            '"$(stripe listen --api-key "$STRIPE_SECRET_KEY" --print-secret)"`.',
            usage=True,
        )
    if live and parts.scheme != "https":
        raise SetupRefused(
            f"{url} is not https: in live mode Stripe posts events only to an https URL.",
            usage=True,
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def describe_stripe_error(exc: Exception) -> str | None:
    """Stripe's answer in words, or None when ``exc`` is not an error of the stripe SDK.

    Duck-typed (every ``stripe.StripeError`` has ``http_status`` and ``user_message``)
    because this package may not import the SDK.
    """
    if not (hasattr(exc, "http_status") and hasattr(exc, "user_message")):
        return None
    status = exc.http_status
    said = exc.user_message or str(exc)
    if status is None:
        return f"Could not reach Stripe: {said}"
    if status == 401:
        return (
            f"Stripe refused STRIPE_SECRET_KEY (401: {said}). Copy the secret key from the "
            "Dashboard (Developers > API keys)."
        )
    if status == 403:
        return f"STRIPE_SECRET_KEY may not do this (403: {said}). Use the account's secret key."
    return f"Stripe refused the request ({status}: {said})"


def stripe_call(fn: Callable, *args, **kwargs):
    """Call Stripe through dj-stripe; its refusals become a ``SetupRefused`` in plain words."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        message = describe_stripe_error(exc)
        if message is None:
            raise
        raise SetupRefused(message) from exc


@dataclass
class EndpointSetup:
    """What the set-up did: the endpoint row, the URL Stripe posts to, and what changed."""

    endpoint: WebhookEndpoint
    url: str
    action: str  # "created", "updated" or "unchanged"
    deleted: list[str] = field(default_factory=list)  # stale endpoints removed at Stripe
    forgotten: list[str] = field(default_factory=list)  # stale rows removed here only


def _owner_account(api_key: str) -> Account:
    """dj-stripe's Account for the key (one GET /v1/account the first time, as a webhook would).

    Done here so the first webhook does not have to, and a refused key is said now.
    """
    return stripe_call(Account.get_or_retrieve_for_api_key, api_key)


def _request_options(api_key: str) -> dict:
    return {"api_key": api_key, "stripe_version": djstripe_settings.STRIPE_API_VERSION}


def setup_public_endpoint(origin: str, *, api_key: str) -> EndpointSetup:
    """Create or update the shop's endpoint at Stripe for ``origin``; store it with its secret."""
    live = key_shape(api_key).live
    host = urlsplit(origin).netloc
    _owner_account(api_key)
    stripe_endpoints = WebhookEndpoint.stripe_class
    listed = stripe_call(stripe_endpoints.list, limit=100, **_request_options(api_key))
    every = stripe_call(lambda: list(listed.auto_paging_iter()))
    ours = [e for e in every if _webhook_uuid(e.url, host)]
    rows = {
        row.id: row
        for row in WebhookEndpoint.objects.filter(id__in=[e.id for e in ours]).exclude(secret="")
    }
    keep = next(
        (
            e
            for e in ours
            if e.id in rows and _webhook_uuid(e.url, host) == rows[e.id].djstripe_uuid
        ),
        None,
    )
    if keep is None:
        endpoint_uuid = uuid.uuid4()
        url = origin + webhook_path(endpoint_uuid)
        data = stripe_call(
            WebhookEndpoint._api_create,
            url=url,
            api_version=djstripe_settings.STRIPE_API_VERSION,
            enabled_events=WEBHOOK_EVENTS,
            metadata={"djstripe_uuid": str(endpoint_uuid)},
            livemode=live,
            api_key=api_key,
        )
        action = "created"
    else:
        row = rows[keep.id]
        url = origin + webhook_path(row.djstripe_uuid)
        data, action = keep, "unchanged"
        metadata = dict(keep.get("metadata") or {})
        if (
            keep.url != url
            or sorted(keep.enabled_events) != sorted(WEBHOOK_EVENTS)
            or keep.status != WebhookEndpointStatus.enabled
            or metadata.get("djstripe_uuid") != str(row.djstripe_uuid)
        ):
            data = stripe_call(
                stripe_endpoints.modify,
                keep.id,
                url=url,
                enabled_events=WEBHOOK_EVENTS,
                disabled=False,
                metadata={"djstripe_uuid": str(row.djstripe_uuid)},
                **_request_options(api_key),
            )
            action = "updated"
        # Stripe sends the secret on creation only; keep ours (as dj-stripe's edit form does).
        data["secret"] = row.secret
    with transaction.atomic():
        endpoint = WebhookEndpoint.sync_from_stripe_data(data, api_key=api_key)
    result = EndpointSetup(endpoint=endpoint, url=url, action=action)
    # Only now that the kept endpoint is stored: the shop's other endpoints at this address
    # would deliver every event twice, or fail (their secret is not here).
    for stale in ours:
        if stale.id != endpoint.id:
            stripe_call(stripe_endpoints.delete, stale.id, **_request_options(api_key))
            WebhookEndpoint.objects.filter(id=stale.id).delete()
            result.deleted.append(stale.id)
    at_stripe = {endpoint.id} | {e.id for e in ours}
    for row in WebhookEndpoint.objects.filter(livemode=live, id__startswith="we_"):
        if row.id not in at_stripe and _webhook_uuid(row.url, host):
            row.delete()  # deleted at Stripe (the Dashboard?): nothing will ever post to it
            result.forgotten.append(row.id)
    return result


def setup_local_endpoint(origin: str, *, secret: str, api_key: str) -> EndpointSetup:
    """Store an endpoint for events forwarded by ``stripe listen`` (nothing is created at Stripe).

    The Stripe CLI signs what it forwards with its session secret (``--print-secret``),
    stable for one device and key; the row is found again by that secret, like dj-stripe's
    ``stripe_listen`` does, but kept (so its URL stays the same) and limited to the shop's
    events, which the printed ``stripe listen --events`` also asks for.
    """
    account = _owner_account(api_key)
    endpoint = WebhookEndpoint.objects.filter(
        id__startswith=LOCAL_FORWARD_PREFIX, secret=secret
    ).first()
    if endpoint is None:
        endpoint_uuid = uuid.uuid4()
        endpoint = WebhookEndpoint(
            id=f"{LOCAL_FORWARD_PREFIX}{endpoint_uuid.hex}",
            djstripe_uuid=endpoint_uuid,
            secret=secret,
            livemode=False,
            stripe_data={},
        )
        action = "created"
    else:
        action = "unchanged"
    url = origin + webhook_path(endpoint.djstripe_uuid)
    wanted = {
        "url": url,
        "enabled_events": WEBHOOK_EVENTS,
        "status": WebhookEndpointStatus.enabled,
        "api_version": djstripe_settings.STRIPE_API_VERSION,
        "djstripe_owner_account": account,
    }
    changed = [name for name, value in wanted.items() if getattr(endpoint, name) != value]
    if changed:
        for name in changed:
            setattr(endpoint, name, wanted[name])
        endpoint.save()
        action = "updated" if action == "unchanged" else action
    return EndpointSetup(endpoint=endpoint, url=url, action=action)


def stripe_listen_command(url: str) -> str:
    """The ``stripe listen`` command that forwards exactly the shop's events to ``url``."""
    return (
        f'stripe listen --api-key "$STRIPE_SECRET_KEY" --events {",".join(WEBHOOK_EVENTS)} '
        f"--forward-to {url}"
    )
