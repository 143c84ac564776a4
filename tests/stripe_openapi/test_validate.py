"""Every request the gateway sends is one Stripe accepts; one Stripe would refuse fails, named.

No database and no stand-in: the gateway's functions run against an HTTP client that keeps
what the SDK puts on the wire and answers the way Stripe does.
"""

import json
from urllib.parse import unquote, urlencode, urlsplit

import pytest
import stripe
from stripe._api_version import _ApiVersion
from stripe._encode import _api_encode
from stripe._request_options import RequestOptions

import stripe_gateway
from stripe_gateway import calls
from stripe_gateway.client import client as sdk_client
from tests.stripe_openapi import trim, validate
from tests.stripe_openapi.validate import InvalidStripeRequest, check_request, problems

BASE = "http://127.0.0.1:9"
PI = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "succeeded",
    "amount": 1500,
    "currency": "eur",
    "metadata": {},
}
REFUND = {"id": "re_1", "object": "refund", "amount": 500, "status": "succeeded"}


class CapturingClient(stripe.HTTPClient):
    """Keeps each request the SDK sends and answers it like Stripe, with one object."""

    name = "capturing"

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, str | None]] = []

    def request(self, method, url, headers, post_data=None):
        self.sent.append((method.upper(), url, post_data))
        path = urlsplit(url).path
        if method == "get" and path in ("/v1/payment_intents", "/v1/refunds"):
            item = PI if path == "/v1/payment_intents" else REFUND
            # One page that says there is another, then the last: pagination is sent too.
            more = "starting_after" not in url and path == "/v1/payment_intents"
            body = {"object": "list", "data": [item], "has_more": more, "url": path}
        else:
            body = REFUND if path == "/v1/refunds" else PI
        return json.dumps(body), 200, {}

    def close(self):
        pass


@pytest.fixture
def wire(monkeypatch, settings):
    settings.STRIPE_BUDGET_BACKEND = "off"  # the wire alone: no database for the budget here
    capturing = CapturingClient()
    monkeypatch.setattr("stripe_gateway.client.build_http_client", lambda: capturing)
    return capturing


def drive_every_call():
    """Each function of stripe_gateway.calls, with the arguments the shop gives it."""
    stripe_gateway.create_payment_intent(
        amount=1500,
        currency="eur",
        payment_method_id="pm_1",
        order_id=7,
        order_reference="ORD-7",
        idempotency_key="k:create",
        shipping=stripe_gateway.Shipping(
            name="Ann Example",
            line1="Keizersgracht 1",
            line2="2nd floor",
            city="Amsterdam",
            postal_code="1015 CJ",
            country="NL",
        ),
    )
    stripe_gateway.confirm_payment_intent(payment_intent_id="pi_1", idempotency_key="k:confirm")
    stripe_gateway.retrieve_payment_intent("pi_1")
    stripe_gateway.cancel_payment_intent(payment_intent_id="pi_1", idempotency_key="k:cancel")
    list(stripe_gateway.list_payment_intents(page_size=1))
    # The sweeps' bulk read: one created window, each PaymentIntent with its charge.
    next(
        stripe_gateway.payment_intent_pages(
            created_gte=1_700_000_000, created_lte=1_700_003_600, with_charge=True
        )
    )
    stripe_gateway.list_refunds("pi_1")
    stripe_gateway.create_refund(
        payment_intent_id="pi_1",
        amount=500,
        idempotency_key="k:refund",
        metadata={"outbox_id": "3", "order_id": "7", "shop": "convergent-shop"},
    )


def sent_operations(wire) -> list[str]:
    return [
        validate.find_operation(method, urlsplit(url).path)[0].operation_id
        for method, url, _ in wire.sent
    ]


def test_every_request_the_gateway_sends_is_one_stripe_accepts(wire):
    drive_every_call()
    assert sent_operations(wire) == [
        "PostPaymentIntents",
        "PostPaymentIntentsIntentConfirm",
        "GetPaymentIntentsIntent",
        "PostPaymentIntentsIntentCancel",
        "GetPaymentIntents",
        "GetPaymentIntents",  # the second page, with starting_after
        "GetPaymentIntents",  # a created window, expanded
        "GetRefunds",
        "PostRefunds",
    ]
    for method, url, body in wire.sent:
        assert problems(method, url, body) == [], (method, url, body)
    assert "starting_after=pi_1" in wire.sent[5][1]
    window = unquote(wire.sent[6][1])
    assert "created[gte]=1700000000" in window and "created[lte]=1700003600" in window
    assert "expand[0]=data.latest_charge" in window and "limit=100" in window
    assert "payment_method_types[0]=card" in wire.sent[0][2]


def test_every_gateway_call_is_driven_here():
    public = {
        name
        for name in stripe_gateway.__all__
        if getattr(getattr(calls, name, None), "__module__", "") == calls.__name__
    }
    driven = {
        "create_payment_intent",
        "confirm_payment_intent",
        "retrieve_payment_intent",
        "cancel_payment_intent",
        "list_payment_intents",
        "payment_intent_pages",
        "list_refunds",
        "create_refund",
    }
    assert public == driven, "a new gateway call: drive it in drive_every_call()"


def test_the_check_raises_inside_the_sdk_client_before_the_request_leaves(
    wire, stripe_requests_match_openapi
):
    with pytest.raises(InvalidStripeRequest) as refused:
        sdk_client().v1.payment_intents.create(
            params={"amount": 1500, "currency": "eur", "payment_method_typez": ["card"]}
        )
    assert "unknown parameter payment_method_typez" in str(refused.value)
    assert "POST /v1/payment_intents (PostPaymentIntents)" in str(refused.value)
    assert wire.sent == []
    # The autouse fixture would fail this test for the refusal it saw: it was the point.
    assert stripe_requests_match_openapi == [refused.value]
    stripe_requests_match_openapi.clear()


def refused(method: str, path: str, body: str | None = None) -> str:
    with pytest.raises(InvalidStripeRequest) as caught:
        check_request(method, BASE + path, body)
    return str(caught.value)


def test_an_unknown_parameter_is_refused_and_named_with_its_operation():
    message = refused(
        "POST", "/v1/payment_intents", "amount=1500&currency=eur&payment_method_typez[0]=card"
    )
    assert "would refuse POST /v1/payment_intents (PostPaymentIntents)" in message
    assert "unknown parameter payment_method_typez" in message


def test_an_unknown_nested_parameter_is_refused_as_stripe_does():
    body = "amount=1&currency=eur&shipping[name]=A&shipping[address][line1]=x&shipping[colour]=red"
    assert problems("POST", BASE + "/v1/payment_intents", body) == [
        "unknown parameter shipping[colour]"
    ]


def test_a_value_outside_an_enum_is_refused():
    message = refused(
        "POST", "/v1/payment_intents", "amount=1500&currency=eur&capture_method=later"
    )
    assert "capture_method: 'later' is not one of ['automatic', 'automatic_async', 'manual']" in (
        message
    )


def test_an_open_enum_is_not_enforced_as_stripe_adds_values_to_it():
    """``x-stripeBypassValidation``: the API version a webhook endpoint is created with is one
    Stripe added long after this description's list of them."""
    body = "url=https://shop.example/w/&enabled_events[0]=charge.refunded"
    assert problems("POST", BASE + "/v1/webhook_endpoints", body + "&api_version=2023-08-16") == []
    assert (
        problems(
            "POST", BASE + "/v1/webhook_endpoints", body + f"&api_version={_ApiVersion.CURRENT}"
        )
        == []
    )
    assert problems("POST", BASE + "/v1/payment_intents/pi_1/cancel", "cancellation_reason=x") == []


def test_a_missing_required_parameter_is_refused():
    message = refused("POST", "/v1/payment_intents", "amount=1500")
    assert "missing required parameter currency" in message
    nested = problems(
        "POST", BASE + "/v1/payment_intents", "amount=1&currency=eur&shipping[name]=A"
    )
    assert nested == ["missing required parameter shipping[address]"]


def test_a_value_of_the_wrong_type_is_refused_in_a_body_and_in_a_query():
    assert problems("POST", BASE + "/v1/refunds", "payment_intent=pi_1&amount=12.50") == [
        "amount: '12.50' is not of type 'integer'"
    ]
    assert problems("GET", BASE + "/v1/refunds?payment_intent=pi_1&limit=all") == [
        "limit: 'all' is not of type 'integer'"
    ]
    assert problems("GET", BASE + "/v1/refunds?payment_intent=pi_1&limit=100&limit=10") == [
        "limit is sent twice"
    ]


def test_a_request_to_an_operation_not_in_the_description_is_refused():
    assert "not an operation the shop is known to send" in refused("POST", "/v1/customers", "")


def test_what_the_sdk_encodes_is_decoded_back_to_the_same_parameters():
    params = {
        "amount": 1500,
        "confirm": False,
        "payment_method_types": ["card"],
        "metadata": {"order_id": "7", "shop": "x"},
        "expand": ["latest_charge", "customer"],
        "shipping": {"name": "Ann", "address": {"line1": "1 Rue", "country": "FR"}},
    }
    # Exactly what stripe/_api_requestor.py does to a body.
    encoded = urlencode(list(_api_encode(params))).replace("%5B", "[").replace("%5D", "]")
    operation, _ = validate.find_operation("POST", "/v1/payment_intents")
    decoded, trouble = validate.decode_form(encoded)
    assert trouble == []
    assert validate.coerce(decoded, operation.body_schema) == params


def test_the_sdk_sends_the_api_version_this_description_was_checked_for():
    """The SDK pins Stripe-Version; the description was cut from an older published spec
    (see operations.json info): an SDK upgrade must look at both again."""
    info, _ = validate.description()
    assert (_ApiVersion.CURRENT, info["version"]) == (validate.SDK_API_VERSION, "2023-08-16")


def test_what_the_gateway_sends_also_exists_at_the_sdks_api_version(wire):
    """The description is older than the SDK's API version: every parameter the gateway sends
    must also be one the SDK's own parameter types (generated from Stripe's spec for the
    version it sends) still know, so neither side has dropped it."""
    drive_every_call()
    typed = {
        "PostPaymentIntents": stripe.params.PaymentIntentCreateParams,
        "PostPaymentIntentsIntentConfirm": stripe.params.PaymentIntentConfirmParams,
        "GetPaymentIntentsIntent": stripe.params.PaymentIntentRetrieveParams,
        "PostPaymentIntentsIntentCancel": stripe.params.PaymentIntentCancelParams,
        "GetPaymentIntents": stripe.params.PaymentIntentListParams,
        "GetRefunds": stripe.params.RefundListParams,
        "PostRefunds": stripe.params.RefundCreateParams,
    }
    options = set(RequestOptions.__annotations__)
    for (_, url, body), operation_id in zip(wire.sent, sent_operations(wire), strict=True):
        sent = set(validate.decode_form(urlsplit(url).query)[0])
        sent |= set(validate.decode_form(body or "")[0])
        known = set(typed[operation_id].__annotations__) - options
        assert sent <= known, (operation_id, sent - known)


def test_operations_json_holds_exactly_the_operations_trim_cuts():
    spec = json.loads(validate.SPEC_FILE.read_text())
    held = {(method, route) for route, item in spec["paths"].items() for method in item}
    assert held == set(trim.OPERATIONS)
    source = spec["info"]["x-trimmedFrom"]
    assert source["repository"] == "stripe/openapi"
    assert len(source["commit"]) == 40 and len(source["blob"]) == 40


def test_trim_resolves_refs_and_keeps_only_what_a_request_is_checked_against():
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "Stripe API", "version": "2099-01-01"},
        "components": {"schemas": {"addr": {"type": "object", "description": "doc"}}},
        "paths": {},
    }
    body = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "x-stripeDoc": 1},
            "address": {"$ref": "#/components/schemas/addr"},
        },
    }
    for method, route in trim.OPERATIONS:
        spec["paths"].setdefault(route, {})[method] = {
            "operationId": f"{method}{route}",
            "description": "doc",
            "parameters": [{"in": "header", "name": "x"}],
            "requestBody": {"content": {validate.FORM: {"schema": body}}},
            "responses": {"200": {"description": "big"}},
        }
    out = trim.trim(spec, b"{}", commit="c" * 40, path="openapi/spec3.json")
    operation = out["paths"]["/v1/refunds"]["post"]
    schema = operation["requestBody"]["content"][validate.FORM]["schema"]
    assert schema["properties"] == {
        "description": {"type": "string"},
        "address": {"type": "object"},
    }
    assert "parameters" not in operation and "description" not in operation
    assert out["info"]["version"] == "2099-01-01"
    assert out["info"]["x-trimmedFrom"]["blob"] == "9e26dfeeb6e641a33dae4961196235bdb965b21b"
