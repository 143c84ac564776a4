"""Check a request, as the stripe SDK puts it on the wire, against Stripe's OpenAPI description.

The description is ``operations.json`` beside this file: the operations the shop sends, cut
from the ``stripe/openapi`` repository by ``trim.py`` (its ``info`` names the commit and the
API version). A request is found by method and path, its query string or form body is
decoded the way Stripe reads it (``metadata[order_id]=7``, ``payment_method_types[0]=card``,
``expand[]=x``), strings are turned into the integers and booleans the schema asks for, and
the result is validated with ``jsonschema``. What Stripe refuses, this refuses:

- a parameter the operation does not have, at any depth: Stripe answers 400 "Received
  unknown parameter" for a nested one too, so an object whose schema lists its properties
  and says nothing of others is closed here (``metadata``-like maps say what they accept);
- a value of the wrong type or outside an enum. Not an enum Stripe marks
  ``x-stripeBypassValidation``: such an enum is open (Stripe adds values to it, even on older
  API versions, and its SDKs type it ``Literal[...] | str``), so a value it does not list may
  be one Stripe takes (``api_version=2026-08-26.dahlia`` against a 2023 list);
- a missing required parameter; a parameter sent twice; a request to an operation the file
  does not hold (add it to ``trim.py`` first).

``checking_every_request()`` installs the check under the SDK for a whole test.
"""

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jsonschema
from jsonschema.exceptions import best_match

SPEC_FILE = Path(__file__).with_name("operations.json")
# The Stripe-Version header stripe-python 15 sends (``stripe._api_version``). The published
# spec it was cut from is older (see ``info.version`` in operations.json and README.md):
# test_validate.py pins both, and checks that what the gateway sends exists at both.
SDK_API_VERSION = "2026-08-26.dahlia"
FORM = "application/x-www-form-urlencoded"


class InvalidStripeRequest(AssertionError):
    """A request real Stripe would refuse (or one this description does not know)."""


@dataclass(frozen=True)
class Operation:
    method: str
    route: str
    operation_id: str
    pattern: re.Pattern
    path_schema: dict
    query_schema: dict
    body_schema: dict

    @property
    def name(self) -> str:
        return f"{self.method} {self.route} ({self.operation_id})"


# --- The description ------------------------------------------------------------------------


def _prepared(schema):
    """The schema as Stripe enforces it: listed properties close an object, and an enum
    marked ``x-stripeBypassValidation`` (open) is not enforced."""
    if isinstance(schema, list):
        return [_prepared(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "properties":  # keyed by parameter names, not keywords
            out[key] = {name: _prepared(sub) for name, sub in value.items()}
        else:
            out[key] = _prepared(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.get("x-stripeBypassValidation"):
        out.pop("enum", None)
    return out


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required}


def _operation(method: str, route: str, spec: dict) -> Operation:
    path_params, query_params = {}, {}
    required_query = []
    for param in spec.get("parameters", []):
        if param["in"] == "path":
            path_params[param["name"]] = param["schema"]
        elif param["in"] == "query":
            query_params[param["name"]] = param["schema"]
            if param.get("required"):
                required_query.append(param["name"])
    content = spec.get("requestBody", {}).get("content", {})
    body = content.get(FORM, {}).get("schema", _object({}, []))
    # /v1/payment_intents/{intent}/confirm -> ^/v1/payment_intents/(?P<intent>[^/]+)/confirm$
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route))
    return Operation(
        method=method.upper(),
        route=route,
        operation_id=spec["operationId"],
        pattern=re.compile(f"^{pattern}$"),
        path_schema=_prepared(_object(path_params, list(path_params))),
        query_schema=_prepared(_object(query_params, required_query)),
        body_schema=_prepared(body),
    )


@cache
def description(path: Path = SPEC_FILE) -> tuple[dict, list[Operation]]:
    """(``info``, operations) of the trimmed description, most literal route first."""
    spec = json.loads(path.read_text())
    operations = [
        _operation(method, route, operation)
        for route, item in spec["paths"].items()
        for method, operation in item.items()
    ]
    # /v1/payment_intents/search must win over /v1/payment_intents/{intent}.
    operations.sort(key=lambda op: op.route.count("{"))
    return spec["info"], operations


def find_operation(method: str, path: str) -> tuple[Operation, dict] | None:
    for operation in description()[1]:
        if operation.method == method.upper():
            match = operation.pattern.match(path)
            if match:
                return operation, match.groupdict()
    return None


# --- The wire format ------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(encoded: str) -> tuple[dict, list[str]]:
    """Nested dicts of strings from ``a[b][0]=x&c[]=y`` (lists stay dicts keyed "0", "1", ...
    until the schema says they are arrays), and the problems met on the way."""
    root: dict = {}
    problems = []
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            problems.append(f"malformed parameter name {key!r}")
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "" and last:  # expand[]=x appends
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                if part in node:
                    problems.append(f"{key} is sent twice")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    problems.append(f"{key} is sent both as a value and as a hash")
                    break
                node = child
    return root, problems


def _branch_fits(value, schema: dict) -> bool:
    kind = schema.get("type")
    if isinstance(value, dict):
        return kind in ("object", "array") or "properties" in schema
    return kind not in ("object", "array")


def coerce(value, schema: dict):
    """``value`` (decoded strings) turned into what ``schema`` asks for, where it can be."""
    if "anyOf" in schema:
        branches = schema["anyOf"]
        for branch in branches:
            candidate = coerce(value, branch)
            if _validator(branch).is_valid(candidate):
                return candidate
        fitting = [b for b in branches if _branch_fits(value, b)]
        return coerce(value, fitting[0]) if fitting else value
    kind = schema.get("type")
    if isinstance(value, dict):
        if kind == "array" and all(k.isdigit() for k in value):
            items = [value[k] for k in sorted(value, key=int)]
            return [coerce(item, schema.get("items", {})) for item in items]
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            return {
                k: coerce(v, properties.get(k, extra if isinstance(extra, dict) else {}))
                for k, v in value.items()
            }
        return value
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    return value


# --- Validation -----------------------------------------------------------------------------


_validators: dict[int, jsonschema.Draft4Validator] = {}


def _validator(schema: dict) -> jsonschema.Draft4Validator:
    # OpenAPI 3.0's schema objects are JSON Schema draft 4 (Wright draft 00) plus keywords
    # draft 4 ignores (nullable, x-*); Stripe's request schemas use nothing newer. The
    # schemas live as long as the cached description, so one validator each is enough.
    validator = _validators.get(id(schema))
    if validator is None or validator.schema is not schema:
        validator = _validators[id(schema)] = jsonschema.Draft4Validator(schema)
    return validator


def _wire_name(path) -> str:
    parts = [str(p) for p in path]
    return parts[0] + "".join(f"[{p}]" for p in parts[1:]) if parts else "(the request)"


def _short(values: list) -> str:
    shown = ", ".join(repr(v) for v in values[:12])
    return f"[{shown}{', ...' if len(values) > 12 else ''}]"


def _describe(error, prefix: tuple = ()) -> list[str]:
    path = (*prefix, *error.absolute_path)
    if error.validator in ("anyOf", "oneOf") and error.context:
        return _describe(best_match(error.context), prefix)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        return [
            f"unknown parameter {_wire_name((*path, k))}" for k in error.instance if k not in known
        ]
    if error.validator == "required":
        return [
            f"missing required parameter {_wire_name((*path, name))}"
            for name in error.validator_value
            if name not in error.instance
        ]
    where = _wire_name(path)
    if error.validator == "enum":
        return [f"{where}: {error.instance!r} is not one of {_short(error.validator_value)}"]
    if error.validator == "type":
        return [f"{where}: {error.instance!r} is not of type {error.validator_value!r}"]
    return [f"{where}: {error.message}"]


def _problems_in(instance, schema: dict, prefix: tuple = ()) -> list[str]:
    errors = sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    # One ``required`` error per missing name, each listing them all: say each once.
    return list(dict.fromkeys(line for error in errors for line in _describe(error, prefix)))


def problems(method: str, url: str, body: str | bytes | None = None) -> list[str]:
    """What Stripe would refuse in this request (empty: nothing); raises for an unknown one."""
    parts = urlsplit(url)
    found = find_operation(method, parts.path)
    if found is None:
        raise InvalidStripeRequest(
            f"{method.upper()} {parts.path} is not an operation the shop is known to send: add "
            "it to OPERATIONS in tests/stripe_openapi/trim.py and cut operations.json again"
        )
    operation, path_values = found
    out = _problems_in(path_values, operation.path_schema, ("(path)",))
    query, decoding = decode_form(parts.query)
    out += decoding
    out += _problems_in(coerce(query, operation.query_schema), operation.query_schema)
    if isinstance(body, bytes):
        body = body.decode()
    form, decoding = decode_form(body or "")
    out += decoding
    out += _problems_in(coerce(form, operation.body_schema), operation.body_schema)
    return out


def check_request(method: str, url: str, body: str | bytes | None = None) -> None:
    """Raise ``InvalidStripeRequest`` naming the operation and each parameter Stripe refuses."""
    found = problems(method, url, body)
    if found:
        info, _ = description()
        operation, _ = find_operation(method, urlsplit(url).path)
        lines = "\n".join(f"  - {line}" for line in found)
        raise InvalidStripeRequest(
            f"Stripe (API {info['version']}) would refuse {operation.name}:\n{lines}\n"
            f"(checked against tests/stripe_openapi/operations.json)"
        )


# --- Under the SDK, for the tests -----------------------------------------------------------


@contextlib.contextmanager
def checking_every_request():
    """Check every request any stripe SDK client sends, before it leaves (and before any
    fault a test injects under the SDK). A refused request raises in the client; the
    refusals are also yielded, so a test whose code swallowed the error still fails."""
    import stripe

    refused: list[InvalidStripeRequest] = []
    original = stripe.HTTPClient.request_with_retries
    lock = threading.Lock()

    def request_with_retries(self, method, url, headers, post_data=None, *args, **kwargs):
        try:
            check_request(method, url, post_data)
        except InvalidStripeRequest as exc:
            with lock:
                refused.append(exc)
            raise
        return original(self, method, url, headers, post_data, *args, **kwargs)

    stripe.HTTPClient.request_with_retries = request_with_retries
    try:
        yield refused
    finally:
        stripe.HTTPClient.request_with_retries = original
