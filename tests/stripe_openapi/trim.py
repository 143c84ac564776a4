"""Cut Stripe's OpenAPI description down to the requests the shop sends.

Usage (from the repository root, with a file of the ``stripe/openapi`` repository):

    git -C STRIPE_OPENAPI show COMMIT:openapi/spec3.yaml > /tmp/spec3.yaml
    python tests/stripe_openapi/trim.py /tmp/spec3.yaml --commit COMMIT \\
        --path openapi/spec3.yaml > tests/stripe_openapi/operations.json

SPEC may be ``openapi/spec3.json``, ``openapi/spec3.yaml`` (needs PyYAML) or the unified
``latest/openapi.spec3.json``. The output is itself a small OpenAPI 3.0 document: only the
operations below, only what a request is checked against (parameters and the form-encoded
request body, local ``$ref``s resolved inline), with descriptions, responses and Stripe's
documentation extensions dropped. ``info.x-trimmedFrom`` names the commit, the path and the
git blob id of the file it was cut from (computed here, so ``git rev-parse COMMIT:PATH``
proves it), and ``info.version`` is the API version that file describes.

Add an operation here (and run this again) before the shop sends a new kind of request:
``tests/stripe_openapi/validate.py`` refuses a request to an operation it does not know.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

# Every request the shop sends through the stripe SDK: stripe_gateway/calls.py, and the
# real-Stripe set-up (payments/stripe_setup.py, through dj-stripe's models).
OPERATIONS = [
    ("post", "/v1/payment_intents"),  # create_payment_intent
    ("post", "/v1/payment_intents/{intent}/confirm"),  # confirm_payment_intent
    ("get", "/v1/payment_intents/{intent}"),  # retrieve_payment_intent
    ("post", "/v1/payment_intents/{intent}/cancel"),  # cancel_payment_intent
    ("get", "/v1/payment_intents"),  # list_payment_intents
    ("get", "/v1/refunds"),  # list_refunds
    ("post", "/v1/refunds"),  # create_refund
    ("get", "/v1/account"),  # set-up: dj-stripe's Account for the key
    ("get", "/v1/webhook_endpoints"),  # set-up: find the shop's endpoints
    ("post", "/v1/webhook_endpoints"),  # set-up: create one
    ("post", "/v1/webhook_endpoints/{webhook_endpoint}"),  # set-up: update its url and events
    ("delete", "/v1/webhook_endpoints/{webhook_endpoint}"),  # set-up: drop a stale one
]

# Kept from the source: what a request is validated against. ``x-stripeBypassValidation``
# marks an enum Stripe does not enforce (more values are accepted than listed).
KEPT_EXTENSIONS = {"x-stripeBypassValidation"}
DROPPED = {"description", "example", "examples", "externalDocs", "deprecated"}


def load(path: str) -> tuple[dict, bytes]:
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    if raw.lstrip()[:1] == b"{":
        return json.loads(raw), raw
    import yaml  # only needed for the YAML files of the repository

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(raw, Loader=loader), raw


def git_blob_id(raw: bytes) -> str:
    """The id git gives this content (``git hash-object``): names the exact file cut from."""
    return hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()


def resolve(node, spec: dict, seen: tuple = ()):
    """``node`` with every local ``$ref`` replaced by its target, and documentation dropped."""
    if isinstance(node, list):
        return [resolve(item, spec, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref}")
        if ref in seen:
            raise ValueError(f"recursive $ref {ref}: a request schema cannot be inlined")
        target = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return resolve(target, spec, (*seen, ref))
    out = {}
    for key, value in node.items():
        if key in DROPPED or (key.startswith("x-") and key not in KEPT_EXTENSIONS):
            continue
        if key in ("properties", "encoding"):  # keyed by parameter names, not keywords
            out[key] = {name: resolve(schema, spec, seen) for name, schema in value.items()}
        else:
            out[key] = resolve(value, spec, seen)
    return out


def trim_operation(operation: dict, spec: dict) -> dict:
    out = {"operationId": operation["operationId"]}
    parameters = [p for p in operation.get("parameters", []) if p.get("in") in ("path", "query")]
    if parameters:
        out["parameters"] = resolve(parameters, spec)
    body = operation.get("requestBody")
    if body:
        out["requestBody"] = resolve(body, spec)
    # A valid OpenAPI document needs a response; what Stripe answers is not checked here.
    out["responses"] = {"default": {"description": "Not kept: only requests are checked."}}
    return out


def trim(spec: dict, raw: bytes, *, commit: str, path: str) -> dict:
    paths: dict[str, dict] = {}
    for method, route in OPERATIONS:
        try:
            operation = spec["paths"][route][method]
        except KeyError:
            raise SystemExit(f"{method.upper()} {route} is not in this spec") from None
        paths.setdefault(route, {})[method] = trim_operation(operation, spec)
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": f"{spec['info']['title']}: the operations the shop sends",
            "version": spec["info"]["version"],
            "x-trimmedFrom": {
                "repository": "stripe/openapi",
                "commit": commit,
                "path": path,
                "blob": git_blob_id(raw),
                "trimmedBy": "tests/stripe_openapi/trim.py",
            },
        },
        "paths": paths,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="a spec file of the stripe/openapi repository, or -")
    parser.add_argument("--commit", required=True, help="the stripe/openapi commit it is from")
    parser.add_argument("--path", required=True, help="its path in that commit")
    args = parser.parse_args(argv)
    spec, raw = load(args.spec)
    trimmed = trim(spec, raw, commit=args.commit, path=args.path)
    json.dump(trimmed, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
