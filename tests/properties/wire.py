"""What the machine can break: the wire to Stripe, our process, our database, the webhook path.

Nothing here sleeps. A "crash" is a ``BaseException`` the application never catches, raised at
a step boundary with the lease left in place (a dead process releases nothing); a "database
down" fault fails the query at the boundary and every query after it for the rest of the call.
"""

import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from django.db import OperationalError, connection, transaction
from django.test import Client

import stripe_gateway as gateway
from orders import checkout, lease
from orders.payment import apply, driver
from tests.payments import webhook_helpers


class Crash(BaseException):
    """The process died here: nothing after this line runs, no ``finally`` cleans up for it."""


# --- Faults on the wire under the stripe SDK ------------------------------------------------

# Which Stripe call a fault hits: (HTTP method, regular expression on the URL path).
CALLS = {
    "create": ("POST", r"/v1/payment_intents$"),
    "confirm": ("POST", r"/v1/payment_intents/[^/]+/confirm$"),
    "retrieve": ("GET", r"/v1/payment_intents/[^/]+$"),
    "cancel": ("POST", r"/v1/payment_intents/[^/]+/cancel$"),
    "refund": ("POST", r"/v1/refunds$"),
    "list_refunds": ("GET", r"/v1/refunds$"),
}
WIRE_MODES = ("lost_request", "lost_response", "timeout", "http_500", "http_500_after")
# What Stripe itself answers (devtools.stripe_semantics, behind the wire): a 500 saved under the
# key and replayed, before or after the write; a 429 (never saved); a 409 (key in use).
STRIPE_SIDE = {
    "stripe_500": "500_before",
    "stripe_500_after": "500_after",
    "stripe_429": "429",
    "stripe_409": "409",
}


def stripe_side_modes(call: str) -> tuple[str, ...]:
    """Stripe's own answers that can meet ``call``: only writes carry a key to save or hold."""
    if CALLS[call][0] == "POST":
        return tuple(STRIPE_SIDE)
    return ("stripe_429",)


class WireFault:
    """A fault for tests.stripe_stand_in.FaultyHTTPClient, matched on one exact Stripe call."""

    def __init__(self, call: str, mode: str, times: int):
        self.call = call
        self.mode = mode
        self.times = times
        self.hits = 0
        self.method, pattern = CALLS[call]
        self.pattern = re.compile(pattern)

    def matches(self, method: str, url: str) -> bool:
        path = url.split("?", 1)[0]
        path = "/" + path.split("://", 1)[-1].split("/", 1)[-1]
        return (
            self.hits < self.times
            and method.upper() == self.method
            and bool(self.pattern.search(path))
        )

    def __repr__(self):
        return f"WireFault({self.call}, {self.mode}, {self.hits}/{self.times})"


# --- Faults at the step boundaries of place_order / drive_payment ---------------------------

# Where a boundary fault fires; the first four are inside drive_payment, shared by the
# checkout, its retry, the 3-D Secure return and the reconciler.
BOUNDARIES = ("record", "recorded", "created", "attached", "confirmed", "applied")
# What happens there: the process dies; the database fails (and stays down for the call);
# the request stalls past its lease while a reconciler takes over; a webhook arrives.
FAULT_KINDS = ("crash", "db_down", "stall", "webhook")
# Stalling or delivering webhooks inside an open transaction is not a thing that happens.
IN_TRANSACTION = ("record", "applied")


def boundary_faults(boundaries=BOUNDARIES) -> list[str]:
    faults = ["none"]
    for boundary in boundaries:
        for kind in FAULT_KINDS:
            if boundary in IN_TRANSACTION and kind in ("stall", "webhook"):
                continue
            faults.append(f"{kind}@{boundary}")
    return faults


@dataclass
class BoundaryFault:
    """One fault planned for one call; fires the first time the call reaches the boundary."""

    spec: str
    on_stall: callable = None
    on_webhook: callable = None
    fired: bool = False
    db_down: bool = False
    kind: str = field(init=False, default="")
    boundary: str = field(init=False, default="")

    def __post_init__(self):
        if self.spec != "none":
            self.kind, self.boundary = self.spec.split("@")

    def at(self, boundary: str) -> None:
        """Called by the seams: fire here if this is the planned boundary."""
        if self.db_down:
            raise OperationalError("the database is down (injected)")
        if self.fired or boundary != self.boundary:
            return
        self.fired = True
        if self.kind == "crash":
            raise Crash(f"process died at {boundary}")
        if self.kind == "db_down":
            self.db_down = True
            raise OperationalError(f"the database went down at {boundary} (injected)")
        if self.kind == "stall":
            self.on_stall()
        elif self.kind == "webhook":
            self.on_webhook()

    def _refuse_queries(self, execute, sql, params, many, context):
        if self.db_down:
            raise OperationalError("the database is down (injected)")
        return execute(sql, params, many, context)


@contextmanager
def boundary_fault(fault: BoundaryFault):
    """Install the seams for one call of place_order / drive_payment / the reconciler."""
    if fault.spec == "none":
        yield fault
        return
    real_record = checkout.record_order
    real_drive = driver.drive_payment
    real_attach = driver.attach_payment_intent
    real_confirm = gateway.confirm_payment_intent
    real_apply = apply.apply_payment_intent
    real_release = lease.release_lease

    def record_order(**kwargs):
        with transaction.atomic():
            order = real_record(**kwargs)
            fault.at("record")  # inside the transaction: nothing is committed if this fires
        return order

    def drive_payment(order_id, **kwargs):
        fault.at("recorded")
        return real_drive(order_id, **kwargs)

    def attach_payment_intent(order_id, payment_intent_id, **kwargs):
        fault.at("created")
        return real_attach(order_id, payment_intent_id, **kwargs)

    def confirm_payment_intent(**kwargs):
        fault.at("attached")
        return real_confirm(**kwargs)

    def apply_payment_intent(order_id, pi, **kwargs):
        fault.at("confirmed")
        with transaction.atomic():
            order = real_apply(order_id, pi, **kwargs)
            fault.at("applied")  # before the commit of step 3
        return order

    def release_lease(order_id, token):
        if fault.kind == "crash" and fault.fired:
            return  # a dead process releases nothing; the lease runs out with time
        return real_release(order_id, token)

    patches = [
        (checkout, "record_order", record_order),
        (driver, "drive_payment", drive_payment),
        (driver, "attach_payment_intent", attach_payment_intent),
        (gateway, "confirm_payment_intent", confirm_payment_intent),
        (apply, "apply_payment_intent", apply_payment_intent),
        (lease, "release_lease", release_lease),
    ]
    with ExitStack() as stack:
        for module, name, replacement in patches:
            stack.callback(setattr, module, name, getattr(module, name))
            setattr(module, name, replacement)
        stack.enter_context(connection.execute_wrapper(fault._refuse_queries))
        yield fault


@contextmanager
def interleaved(other, *, enabled: bool = True):
    """Run ``other`` (another worker) once, just before the next refund or cancel reaches Stripe."""
    if not enabled:
        yield
        return
    real = {name: getattr(gateway, name) for name in ("create_refund", "cancel_payment_intent")}
    done = []

    def wrap(name):
        def call(**kwargs):
            if not done:
                done.append(name)
                other()
            return real[name](**kwargs)

        return call

    try:
        for name in real:
            setattr(gateway, name, wrap(name))
        yield
    finally:
        for name, function in real.items():
            setattr(gateway, name, function)


# --- Webhooks, signed the way Stripe signs them ---------------------------------------------

PI_EVENT_FOR_STATUS = {
    "succeeded": "payment_intent.succeeded",
    "requires_action": "payment_intent.requires_action",
    "canceled": "payment_intent.canceled",
    "processing": "payment_intent.processing",
}


event_for = webhook_helpers.event_for


def deliver(event: dict, *, secret: str | None = None) -> int:
    """POST an event to the shop's dj-stripe endpoint, signed (with the right secret unless
    told)."""
    return webhook_helpers.deliver(Client(), event, secret=secret).status_code
