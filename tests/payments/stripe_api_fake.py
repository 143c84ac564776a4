"""Real Stripe's account and webhook-endpoint API, faked at the HTTP client under the SDK.

localstripe has neither ``GET /v1/account`` nor ``/v1/webhook_endpoints`` (it takes webhook
registrations on its own ``/_config/webhooks``), so the set-up command is tested against
this instead: the stripe SDK and dj-stripe run for real, and only the HTTP client answers.

Its objects have the shape of Stripe's OpenAPI description (the ``account`` and
``webhook_endpoint`` schemas and examples of the stripe/openapi repository, fields as in
stripe-python's generated ``WebhookEndpoint`` resource): ``secret`` only in the answer to
a create, ``status`` enabled or disabled, lists paginated with ``has_more``. Each create and
update is checked against stripe-python's generated parameter types (``Webhook
EndpointCreateParams``/``ModifyParams``): an unknown parameter, an event type or API version
Stripe does not know is answered 400 as Stripe would.
"""

import json
import secrets
import time
import typing
from urllib.parse import parse_qsl, urlsplit

import stripe
from stripe._request_options import RequestOptions
from stripe.params._webhook_endpoint_create_params import WebhookEndpointCreateParams
from stripe.params._webhook_endpoint_modify_params import WebhookEndpointModifyParams

ACCOUNT_ID = "acct_1SetupFakeAccount0"


def _literals(annotation) -> set[str]:
    """Every string a (nested) ``Literal[...]`` in ``annotation`` allows."""
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    found: set[str] = set()
    for arg in typing.get_args(annotation):
        found |= _literals(arg)
    return found


def _param_names(params) -> set[str]:
    return set(params.__annotations__) - set(RequestOptions.__annotations__)


CREATE_PARAMS = _param_names(WebhookEndpointCreateParams)
MODIFY_PARAMS = _param_names(WebhookEndpointModifyParams)
KNOWN_EVENTS = _literals(WebhookEndpointCreateParams.__annotations__["enabled_events"])
KNOWN_API_VERSIONS = _literals(WebhookEndpointCreateParams.__annotations__["api_version"])


def _decode_form(body: str) -> dict:
    """Stripe's form encoding back to objects: ``a[0]=x`` lists, ``m[k]=v`` dictionaries."""
    params: dict = {}
    for key, value in parse_qsl(body or "", keep_blank_values=True):
        name, _, rest = key.partition("[")
        if not rest:
            params[name] = value
        elif rest[:-1].isdigit():
            params.setdefault(name, []).append(value)
        else:
            params.setdefault(name, {})[rest[:-1]] = value
    return params


def _error(status: int, kind: str, message: str, **extra) -> tuple[bytes, int, dict]:
    body = {"error": {"type": kind, "message": message, **extra}}
    return json.dumps(body).encode(), status, {"request-id": f"req_{secrets.token_hex(7)}"}


class FakeStripeAPI(stripe.HTTPClient):
    """Answers the calls ``setup_stripe_webhook`` and dj-stripe's webhook handling make."""

    name = "fake-stripe-api"

    def __init__(self, *, api_key: str):
        super().__init__()
        self.api_key = api_key
        self.endpoints: dict[str, dict] = {}
        self.secrets: dict[str, str] = {}  # what each create answered, the only time it does
        self.calls: list[tuple[str, str, dict]] = []
        self.stripe_versions: set[str] = set()
        self.hosts: set[str] = set()

    # -- test helpers --------------------------------------------------------------------
    def add_endpoint(self, url: str, events: list[str], **fields) -> dict:
        """An endpoint made elsewhere (the Dashboard, an earlier run whose reply was lost)."""
        endpoint = self._new_endpoint({"url": url, "enabled_events": events, **fields})
        endpoint.pop("secret")
        return endpoint

    def writes(self) -> list[tuple[str, str, dict]]:
        return [call for call in self.calls if call[0] != "GET"]

    # -- the HTTP client interface ---------------------------------------------------------
    def request(self, method, url, headers, post_data=None):
        parts = urlsplit(url)
        self.hosts.add(parts.netloc)
        self.stripe_versions.add(headers.get("Stripe-Version", ""))
        method = method.upper()
        params = _decode_form(post_data if method == "POST" else parts.query)
        self.calls.append((method, parts.path, params))
        key = headers.get("Authorization", "").removeprefix("Bearer ")
        if key != self.api_key:
            return _error(401, "invalid_request_error", "Invalid API Key provided: sk_****")
        if key.startswith("rk_") and parts.path == "/v1/account":
            return _error(
                403,
                "invalid_request_error",
                "The provided key does not have the required permissions for this endpoint.",
                code="secret_key_required",
            )
        route = (method, parts.path.rstrip("/"))
        if route == ("GET", "/v1/account"):
            return self._json(self._account())
        if route == ("GET", "/v1/webhook_endpoints"):
            return self._json(self._list(params))
        if route == ("POST", "/v1/webhook_endpoints"):
            return self._create(params)
        endpoint_id = parts.path.removeprefix("/v1/webhook_endpoints/")
        if endpoint_id != parts.path and endpoint_id not in self.endpoints:
            return _error(
                404,
                "invalid_request_error",
                f"No such webhook endpoint: '{endpoint_id}'",
                code="resource_missing",
                param="id",
            )
        if method == "POST" and endpoint_id != parts.path:
            return self._modify(endpoint_id, params)
        if method == "DELETE" and endpoint_id != parts.path:
            del self.endpoints[endpoint_id]
            return self._json({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {url})")

    def close(self):
        pass

    # -- Stripe's objects ------------------------------------------------------------------
    @staticmethod
    def _json(obj, status: int = 200):
        return json.dumps(obj).encode(), status, {"request-id": f"req_{secrets.token_hex(7)}"}

    def _account(self) -> dict:
        return {
            "id": ACCOUNT_ID,
            "object": "account",
            "business_profile": {"name": "Convergent Shop", "url": None, "support_email": None},
            "business_type": None,
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": True,
            "country": "DE",
            "created": 1_700_000_000,
            "default_currency": "eur",
            "details_submitted": True,
            "email": "owner@shop.example",
            "metadata": {},
            "payouts_enabled": True,
            "settings": {
                "branding": {"icon": None, "logo": None, "primary_color": None},
                "dashboard": {"display_name": "Convergent Shop", "timezone": "Etc/UTC"},
            },
            "type": "standard",
        }

    def _list(self, params: dict) -> dict:
        items = sorted(self.endpoints.values(), key=lambda e: e["id"])
        after = params.get("starting_after")
        if after:
            items = [e for e in items if e["id"] > after]
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "url": "/v1/webhook_endpoints",
            "has_more": len(items) > limit,
            "data": items[:limit],
        }

    def _invalid(self, params: dict, allowed: set[str]) -> tuple | None:
        for name in params:
            if name not in allowed:
                return _error(400, "invalid_request_error", f"Received unknown parameter: {name}")
        for event in params.get("enabled_events", []):
            if event not in KNOWN_EVENTS:
                return _error(
                    400,
                    "invalid_request_error",
                    f"Invalid enabled_events[]: must be one of ... (got {event})",
                    param="enabled_events",
                )
        if "api_version" in params and params["api_version"] not in KNOWN_API_VERSIONS:
            return _error(400, "invalid_request_error", "Invalid api_version", param="api_version")
        return None

    def _new_endpoint(self, params: dict) -> dict:
        endpoint = {
            "id": f"we_{secrets.token_hex(12)}",
            "object": "webhook_endpoint",
            "api_version": params.get("api_version"),
            "application": None,
            "created": int(time.time()),
            "description": params.get("description"),
            "enabled_events": list(params["enabled_events"]),
            "livemode": self.api_key.startswith(("sk_live_", "rk_live_")),
            "metadata": dict(params.get("metadata") or {}),
            "status": params.get("status", "enabled"),
            "url": params["url"],
        }
        self.endpoints[endpoint["id"]] = endpoint
        self.secrets[endpoint["id"]] = f"whsec_{secrets.token_hex(16)}"
        return {**endpoint, "secret": self.secrets[endpoint["id"]]}

    def _create(self, params: dict):
        refused = self._invalid(params, CREATE_PARAMS)
        if refused:
            return refused
        if not params.get("url") or not params.get("enabled_events"):
            return _error(400, "invalid_request_error", "Missing required param: url.")
        return self._json(self._new_endpoint(params))

    def _modify(self, endpoint_id: str, params: dict):
        refused = self._invalid(params, MODIFY_PARAMS)
        if refused:
            return refused
        endpoint = self.endpoints[endpoint_id]
        for name in ("url", "description", "enabled_events"):
            if name in params:
                endpoint[name] = params[name]
        if "metadata" in params:
            endpoint["metadata"] = {**endpoint["metadata"], **params["metadata"]}
        if "disabled" in params:
            endpoint["status"] = "disabled" if params["disabled"] == "true" else "enabled"
        return self._json(endpoint)


def key(kind: str, mode: str = "test") -> str:
    """A key of dj-stripe's shape (``sk_test_`` + 24 or more letters and digits), no one's."""
    return f"{kind}_{mode}_SetupTestKey{'0' * 16}"


SECRET_KEY, PUBLISHABLE_KEY = key("sk"), key("pk")
