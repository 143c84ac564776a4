"""A state machine of what happens to orders in real life, in any order, any number of times.

Customers submit and resubmit checkout forms and come back from 3-D Secure (or never do);
processes die and the database fails at the step boundaries of a checkout; Stripe answers,
times out, answers 500 or acts and loses the reply; webhooks arrive, twice, late, out of order,
or forged; reconcilers run, two at once; time jumps; support staff cancel, refund and resend.
After every step I1-I6 are checked from our rows and from the stand-in's money
(tests/invariants.py); ``faults_stop_and_converge`` (also run at teardown) stops the
faults, lets the scheduler's time pass, and asserts that every order converged in time.

Everything runs against real PostgreSQL and the localstripe stand-in; time is the test clock.
The environment (stand-in, wire faults, clock) is set on the class by the test that runs it.
"""

import functools
import secrets
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import mail
from django.db import DatabaseError, connection
from hypothesis import currently_in_test_context, event, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from catalog.models import Product
from orders import checkout, policy
from orders.exceptions import ActionRefused, CheckoutNotStarted
from orders.models import (
    PENDING_STATUSES,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    ShippingZone,
    UnmatchedPaymentEvent,
)
from orders.outbox import dispatch as outbox
from orders.payment import driver
from orders.support import actions as support
from orders.support import fulfilment as fulfilment_actions
from payments.audit import audit_payments
from payments.models import ReconcilerRun
from payments.reconcile import reconcile_pending_orders
from stripe_gateway import GatewayError
from tests.conftest import (
    CARD_3DS,
    CARD_3DS_DECLINED,
    CARD_DECLINED,
    CARD_OK,
    delivery_to,
    make_shipping,
)
from tests.invariants import StripeView, check_converged, check_safe
from tests.properties import wire
from tests.properties.wire import BoundaryFault, Crash, WireFault
from tests.races import run_together

CARDS = {
    "ok": CARD_OK,
    "3ds": CARD_3DS,
    "declined": CARD_DECLINED,
    "3ds_declined": CARD_3DS_DECLINED,
}
PRICE = 1500
SHIPPING_PRICE = 495
STOCK = 100
MAX_FORMS = 3
MAX_WIRE_FAULTS = 3
TIME_STEPS = {
    "5s": timedelta(seconds=5),
    "past_grace": timedelta(seconds=31),
    "past_lease": timedelta(seconds=61),
    "3min": timedelta(minutes=3),
    "past_retry_max": timedelta(minutes=11),
    "past_give_up": timedelta(minutes=61),
}


def stripe_faults(*calls: str):
    """Half the time Stripe behaves; otherwise one of the action's calls meets one fault: on
    the wire, or Stripe's own answer (a saved 500, a 429, a 409)."""
    faulty = st.builds("{1}@{0}".format, st.sampled_from(calls), st.sampled_from(wire.WIRE_MODES))
    own = st.sampled_from([f"{m}@{c}" for c in calls for m in wire.stripe_side_modes(c)])
    return st.one_of(st.just("ok"), faulty, own)


PAYING = stripe_faults("create", "confirm", "retrieve", "cancel")
# What a customer's checkout can be: the card, the amount, a fault at a step boundary, the wire.
CHECKOUT = dict(
    card=st.sampled_from(list(CARDS)),
    quantity=st.integers(1, 3),
    fault=st.sampled_from(wire.boundary_faults()),
    stripe=PAYING,
)
REFUNDING = stripe_faults("refund", "list_refunds", "retrieve")
DISPATCHING = stripe_faults("refund", "list_refunds", "retrieve", "cancel")
PICK = st.integers(0, 3)
RACERS = (
    "reconcile",
    "resubmit",
    "webhook",
    "3ds_return",
    "outbox",
    "support_cancel",
    "customer_3ds",
)


def setting(name):
    return policy.setting(name)


class Form:
    """One checkout form as the customer's browser holds it: a one-time token and a card."""

    def __init__(self, number: int, card: str, quantity: int, payment_method_id: str):
        self.number = number
        self.card = card
        self.quantity = quantity
        self.payment_method_id = payment_method_id
        self.token = f"tok-{number}-{secrets.token_hex(8)}"

    def order(self) -> Order | None:
        return Order.objects.filter(checkout_token=self.token).first()

    def __repr__(self):
        return f"Form({self.number}, {self.card}, x{self.quantity})"


# What the runs did, over all examples: printed by the test, to see what the machine reaches.
STATS: Counter = Counter()


def _event(message: str) -> None:
    """Count an outcome (Hypothesis's statistics only take them from the machine's own thread)."""
    STATS[message] += 1
    if threading.current_thread() is threading.main_thread() and currently_in_test_context():
        event(message)


def step(method):
    """Mark the machine as failed when a step raises, so teardown does not pile on."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.failed = True
            raise

    return run


class ConvergenceMachine(RuleBasedStateMachine):
    # Set by the ``machine`` fixture (tests/properties/conftest.py).
    stripe_api = None
    faults = None
    clock = None
    semantics = None  # devtools.stripe_semantics, in front of the stand-in

    forms = Bundle("forms")

    def __init__(self):
        super().__init__()
        self.failed = False
        self.reset()

    # --- Per-example state -----------------------------------------------------------------

    def reset(self) -> None:
        """Start every example from nothing: empty tables, an empty stand-in, a fresh clock."""
        self.stripe_api.flush()
        self.semantics.reset()
        self.faults.clear()
        self.faults.log.clear()
        mail.outbox.clear()
        models = (
            OrderEvent,
            OutboxMessage,
            OrderLine,
            Order,
            UnmatchedPaymentEvent,
            ReconcilerRun,
            Product,
        )
        tables = [model._meta.db_table for model in models]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            cursor.execute("DELETE FROM djstripe_webhookeventtrigger")
            cursor.execute("DELETE FROM djstripe_event")
        self.clock.current = self.clock.current.replace(microsecond=0) + timedelta(days=1)
        self.product = Product.objects.create(
            slug="mug", name="Mug", price=PRICE, currency="eur", stock=STOCK
        )
        self.initial_stock = {self.product.pk: STOCK}
        # Every order pays for its delivery too: the money checked is goods plus shipping.
        ShippingZone.objects.all().delete()
        self.delivery = delivery_to(make_shipping(price=SHIPPING_PRICE, vat="0.2100"))
        self.staff, _ = get_user_model().objects.get_or_create(
            username="support-machine", defaults={"is_staff": True}
        )
        self.form_count = 0
        self.webhooks_get_through = True
        self.last_status: dict[int, str] = {}
        self.pi_seen: dict[str, tuple] = {}
        self.refunds_seen: dict[str, int] = {}
        self.undelivered: list[dict] = []
        self.delivered: list[dict] = []
        self.status_now: dict[int, str] = {}
        self.pis_now: list[dict] = []
        self.awaiting_3ds: list[tuple[int, str]] = []

    # --- What Stripe sends: events, built from the stand-in's real state -------------------

    def observe_stripe(self) -> StripeView:
        """Read the stand-in; every change Stripe would announce becomes an undelivered event."""
        view = StripeView.read(self.stripe_api)
        for pi_id, pi in view.pis.items():
            state = (pi["status"], bool(pi.get("last_payment_error")))
            if self.pi_seen.get(pi_id) != state:
                self.pi_seen[pi_id] = state
                kind = wire.PI_EVENT_FOR_STATUS.get(pi["status"])
                if pi["status"] == "requires_payment_method" and pi.get("last_payment_error"):
                    kind = "payment_intent.payment_failed"
                if kind:
                    self.undelivered.append(wire.event_for(pi, kind))
            refunded = view.refunded.get(pi_id, 0)
            if refunded != self.refunds_seen.get(pi_id, 0):
                self.refunds_seen[pi_id] = refunded
                charge = dict(
                    pi["latest_charge"], amount_refunded=refunded, refunded=refunded == pi["amount"]
                )
                self.undelivered.append(wire.event_for(charge, "charge.refunded"))
        return view

    def _deliver(self, evt: dict) -> int:
        status = wire.deliver(evt)
        _event(f"webhook {evt['type']} -> {status}")
        return status

    def deliver_all_now(self) -> None:
        self.observe_stripe()
        while self.undelivered:
            evt = self.undelivered.pop(0)
            if self._deliver(evt) == 200:
                self.delivered.append(evt)

    # --- Faults at step boundaries -----------------------------------------------------------

    def _stall_and_take_over(self) -> None:
        """The request hangs past its lease; a reconciler (grace passed) takes the order over."""
        self.clock.advance(seconds=setting("DRIVER_LEASE").total_seconds() + 1)
        reconcile_pending_orders(max_orders=20)

    @contextmanager
    def stripe_says(self, spec: str):
        """During one action, the first matching call to Stripe meets the given fault."""
        if spec == "ok":
            yield
            return
        mode, call = spec.split("@")
        if mode in wire.STRIPE_SIDE:
            method, pattern = wire.CALLS[call]
            planned = self.semantics.plan(wire.STRIPE_SIDE[mode], method=method, path=pattern)
            try:
                yield
            finally:
                _event(f"stripe {spec} {'hit' if planned.hits else 'missed'}")
                planned.times = planned.hits  # only during this action
            return
        fault = WireFault(call, mode, 1)
        self.faults.planned.append(fault)
        try:
            yield
        finally:
            _event(f"wire {spec} {'hit' if fault.hits else 'missed'}")
            if fault in self.faults.planned:
                self.faults.planned.remove(fault)

    @contextmanager
    def boundary(self, spec: str):
        """During one call, the planned fault fires the first time the call reaches its boundary."""
        fault = BoundaryFault(
            spec, on_stall=self._stall_and_take_over, on_webhook=self.deliver_all_now
        )
        try:
            with wire.boundary_fault(fault):
                yield fault
        finally:
            if spec != "none":
                _event(f"boundary {spec} {'fired' if fault.fired else 'not reached'}")

    def _place(self, form: Form, fault: str, stripe: str = "ok") -> None:
        with self.stripe_says(stripe), self.boundary(fault):
            try:
                order = checkout.place_order(
                    lines=[checkout.LineRequest(self.product.pk, form.quantity)],
                    email=f"customer{form.number}@example.com",
                    delivery=self.delivery,
                    payment_method_id=form.payment_method_id,
                    checkout_token=form.token,
                )
                _event(f"checkout -> {order.status}")
            except CheckoutNotStarted:
                _event("checkout -> not started")
            except Crash:
                _event("checkout -> process died")
            except DatabaseError:
                _event("checkout -> 500 (database down)")

    # --- Rules: customers --------------------------------------------------------------------

    @initialize(webhooks_get_through=st.booleans())
    @step
    def stripe_endpoint(self, webhooks_get_through):
        """Whether, once faults stop, Stripe's webhooks reach us, or the shop must converge
        without them."""
        self.webhooks_get_through = webhooks_get_through

    @initialize(target=forms, **CHECKOUT)
    @step
    def first_checkout(self, card, quantity, fault, stripe):
        """Every example starts with one customer at the checkout."""
        return self._submit(card, quantity, fault, stripe)

    @precondition(lambda self: self.form_count < MAX_FORMS)
    @rule(target=forms, **CHECKOUT)
    @step
    def submit(self, card, quantity, fault, stripe):
        """A customer submits a new checkout form."""
        return self._submit(card, quantity, fault, stripe)

    def _submit(self, card, quantity, fault, stripe):
        self.form_count += 1
        form = Form(self.form_count, card, quantity, self.stripe_api.payment_method(CARDS[card]))
        self._place(form, fault, stripe)
        return form

    @rule(form=forms, fault=st.sampled_from(wire.boundary_faults()), stripe=PAYING)
    @step
    def resubmit(self, form, fault, stripe):
        """The same form again: double click, reload, back button, second tab."""
        self._place(form, fault, stripe)

    @rule(
        pick=PICK,
        success=st.booleans(),
        comes_back=st.booleans(),
        fault=st.sampled_from(wire.boundary_faults(("recorded", "confirmed", "applied"))),
        stripe=PAYING,
    )
    @step
    def customer_does_3ds(self, pick, success, comes_back, fault, stripe):
        """The customer completes (or fails) 3-D Secure; their browser may never come back."""
        if not self.awaiting_3ds:
            return
        order_id, pi_id = self.awaiting_3ds[pick % len(self.awaiting_3ds)]
        self.stripe_api.authenticate(pi_id, success=success)
        order = Order.objects.get(pk=order_id)
        _event(
            f"3ds {'passed' if success else 'failed'}, "
            f"customer {'returns' if comes_back else 'gone'}"
        )
        if comes_back:
            with self.stripe_says(stripe), self.boundary(fault):
                try:
                    driver.drive_payment(order.pk, cause="customer:3ds_complete")
                except (Crash, DatabaseError):
                    pass

    # --- Rules: Stripe -----------------------------------------------------------------------

    @rule(
        call=st.sampled_from(sorted(wire.CALLS)),
        mode=st.sampled_from(wire.WIRE_MODES),
        times=st.integers(1, 3),
    )
    @step
    def stripe_misbehaves(self, call, mode, times):
        """The next ``times`` calls of one kind to Stripe fail in one way."""
        if sum(f.hits < f.times for f in self.faults.planned) >= MAX_WIRE_FAULTS:
            return
        self.faults.planned.append(WireFault(call, mode, times))

    @rule(
        call=st.sampled_from(sorted(wire.CALLS)),
        mode=st.sampled_from(sorted(wire.STRIPE_SIDE)),
        times=st.integers(1, 3),
    )
    @step
    def stripe_itself_fails(self, call, mode, times):
        """Stripe itself answers the next ``times`` calls of one kind: a 500 it saves under the
        key and replays (before or after the write), a 429, or a 409."""
        if mode not in wire.stripe_side_modes(call) or self.semantics.plans_left() >= 3:
            return
        method, pattern = wire.CALLS[call]
        self.semantics.plan(wire.STRIPE_SIDE[mode], method=method, path=pattern, times=times)

    @rule(
        how=st.sampled_from(["next", "duplicate", "old_snapshot", "forged"]), pick=st.integers(0, 7)
    )
    @step
    def stripe_sends_webhook(self, how, pick):
        """Stripe delivers an event: any pending one (out of order), the same again, an old
        snapshot anew (late), or someone forges one ("succeeded", signed with the wrong secret)."""
        if how == "next" and self.undelivered:
            evt = self.undelivered.pop(pick % len(self.undelivered))
            if self._deliver(evt) == 200:
                self.delivered.append(evt)
            else:
                self.undelivered.append(evt)  # Stripe retries later
        elif how in ("duplicate", "old_snapshot") and self.delivered:
            evt = self.delivered[pick % len(self.delivered)]
            if how == "old_snapshot":
                evt = wire.event_for(evt["data"]["object"], evt["type"])
            self._deliver(evt)
        elif how == "forged" and self.pis_now:
            pi = dict(
                self.pis_now[pick % len(self.pis_now)], status="succeeded", last_payment_error=None
            )
            status = wire.deliver(
                wire.event_for(pi, "payment_intent.succeeded"), secret="whsec_forged"
            )
            assert status == 400, f"a forged webhook was answered {status}"

    # --- Rules: the shop's own machinery ----------------------------------------------------------

    def _reconcile(self) -> None:
        summary = reconcile_pending_orders(max_orders=50)
        for outcome, n in summary.outcomes.items():
            STATS[f"reconciler -> {outcome}"] += n
        assert summary.examined < 50, f"the reconciler spins: {dict(summary.outcomes)}"

    @rule(
        fault=st.sampled_from(
            wire.boundary_faults(("recorded", "created", "attached", "confirmed", "applied"))
        ),
        stripe=PAYING,
    )
    @step
    def reconciler_runs(self, fault, stripe):
        """The scheduled sweep (or the management command) runs."""
        with self.stripe_says(stripe), self.boundary(fault):
            try:
                self._reconcile()
            except (Crash, DatabaseError):
                pass

    @rule(stripe=DISPATCHING, second_worker=st.booleans())
    @step
    def outbox_sweep(self, stripe, second_worker):
        """The scheduled outbox sweep sends whatever is due; with ``second_worker``, another
        worker's sweep runs in between, just before the first one's refund or cancel reaches
        Stripe."""
        with (
            self.stripe_says(stripe),
            wire.interleaved(outbox.dispatch_due_messages, enabled=second_worker),
        ):
            outbox.dispatch_due_messages()

    @rule(form=forms, racers=st.lists(st.sampled_from(RACERS), min_size=2, max_size=3))
    @step
    def at_once(self, form, racers):
        """Several actors on the same order at the same moment, each on its own connection."""
        self.observe_stripe()
        actions = {
            "reconcile": self._reconcile,
            "resubmit": lambda: self._place(form, "none"),
            "webhook": self._deliver_latest_for(form),
            "3ds_return": lambda: self._drive_if_exists(form, "customer:3ds_complete"),
            "outbox": outbox.dispatch_due_messages,
            "support_cancel": lambda: self._cancel(form.order()),
            "customer_3ds": lambda: self._authenticate_and_return(form),
        }
        run_together(
            *(actions[name] for name in racers),
            names=[f"racer {name}" for name in racers],
            start_timeout=10,
            finish_timeout=60,
        )

    def _deliver_latest_for(self, form):
        """Freeze, now, the newest undelivered event about this order's PaymentIntent."""
        order = form.order()
        pi_id = order.payment_intent_id if order else None
        mine = [
            evt
            for evt in self.undelivered
            if pi_id
            and pi_id
            in (evt["data"]["object"].get("id"), evt["data"]["object"].get("payment_intent"))
        ]
        if not mine:
            return lambda: None
        evt = mine[-1]
        self.undelivered.remove(evt)

        def deliver():
            if self._deliver(evt) == 200:
                self.delivered.append(evt)
            else:
                self.undelivered.append(evt)

        return deliver

    def _authenticate_and_return(self, form):
        """The customer passes 3-D Secure and their browser comes back to the shop."""
        order = form.order()
        if order is None or not order.payment_intent_id:
            return
        self.stripe_api.authenticate(
            order.payment_intent_id, success=True
        )  # 400 if not awaiting it
        driver.drive_payment(order.pk, cause="customer:3ds_complete")

    def _drive_if_exists(self, form, cause):
        order = form.order()
        if order is not None:
            driver.drive_payment(order.pk, cause=cause)

    @rule(stripe=DISPATCHING)
    @step
    def audit_runs(self, stripe):
        """The hourly orphan sweep: reads Stripe's side and repairs what is safe to repair."""
        with self.stripe_says(stripe):
            try:
                report = audit_payments(fix=True)
            except GatewayError:
                _event("audit -> Stripe unreachable")
                return
        for finding in report.findings:
            _event(f"audit {finding.invariant} {'fixed' if finding.fixed else finding.severity}")

    @rule(by=st.sampled_from(list(TIME_STEPS)), webhooks_arrive=st.booleans())
    @step
    def time_passes(self, by, webhooks_arrive):
        """Time passes; meanwhile Stripe delivers what it has to say (or its deliveries are
        held up)."""
        if webhooks_arrive:
            self.deliver_all_now()
        self.clock.advance(seconds=TIME_STEPS[by].total_seconds())

    # --- Rules: support staff ------------------------------------------------------------------

    def _orders(self, *statuses) -> list[int]:
        return [pk for pk, status in sorted(self.status_now.items()) if status in statuses]

    @rule(
        action=st.sampled_from(["cancel", "reconcile_now", "resend_confirmation"]),
        pick=PICK,
        stripe=PAYING,
    )
    @step
    def support_acts(self, action, pick, stripe):
        """Support cancels an unpaid order, asks for a reconcile now, or resends a confirmation."""
        if action == "resend_confirmation":
            self._resend(pick)
            return
        pending = self._orders(*PENDING_STATUSES)
        if not pending:
            return
        order_id = pending[pick % len(pending)]
        with self.stripe_says(stripe):
            if action == "cancel":
                self._cancel(Order.objects.get(pk=order_id))
            else:
                try:
                    support.reconcile_now(order_id=order_id, actor=self.staff)
                except ActionRefused:
                    pass

    def _cancel(self, order):
        if order is None:
            return
        try:
            order = support.cancel_unpaid_order(
                order_id=order.pk, actor=self.staff, reason="customer asked"
            )
            _event(f"support cancel -> {order.status}")
        except ActionRefused:
            _event("support cancel -> refused")

    @rule(
        pick=PICK,
        amount=st.sampled_from([700, None, 1, 1500, 3000]),
        request=st.integers(0, 2),
        stripe=REFUNDING,
        restock=st.booleans(),
    )
    @step
    def support_refund(self, pick, amount, request, stripe, restock):
        """A full (None) or partial refund; the same request number is a double-clicked button.
        Staff say whether the goods come back to stock (I7: only then do they)."""
        paid = self._orders(OrderStatus.PAID)
        if not paid:
            return
        with self.stripe_says(stripe):
            self._refund(paid[pick % len(paid)], amount, request, restock)

    def _refund(self, order_id, amount, request, restock=False):
        try:
            support.refund_order(
                order_id=order_id,
                amount=amount,
                restock=restock,
                actor=self.staff,
                reason="goodwill",
                request_token=f"refund-{order_id}-{request}",
            )
            _event(f"support refund {'full' if amount is None else 'partial'} -> queued")
        except ActionRefused as exc:
            _event(f"support refund -> refused: {exc}")

    def _resend(self, pick):
        orders = self._orders(OrderStatus.PAID, OrderStatus.REFUNDED)
        if not orders:
            return
        order_id = orders[pick % len(orders)]
        try:
            support.resend_confirmation(
                order_id=order_id,
                actor=self.staff,
                reason="lost it",
                request_token=f"resend-{order_id}-{pick % 2}",
            )
            _event("support resend -> queued")
        except ActionRefused:
            _event("support resend -> refused")

    @rule(pick=PICK, action=st.sampled_from(["ship", "deliver", "restock"]), request=PICK)
    @step
    def support_fulfilment(self, pick, action, request):
        """Staff ship, deliver or take back the goods of any order: refused unless paid."""
        orders = sorted(Order.objects.values_list("pk", flat=True))
        if not orders:
            return
        order_id = orders[pick % len(orders)]
        token = f"{action}-{order_id}-{request % 2}"
        try:
            if action == "ship":
                fulfilment_actions.ship_order(
                    order_id=order_id,
                    actor=self.staff,
                    carrier="DHL",
                    tracking_reference="JD0001",
                    request_token=token,
                )
            elif action == "deliver":
                fulfilment_actions.mark_delivered(
                    order_id=order_id, actor=self.staff, reason="", request_token=token
                )
            else:
                fulfilment_actions.restock_goods(
                    order_id=order_id, actor=self.staff, reason="came back", request_token=token
                )
            _event(f"support {action} -> done")
        except ActionRefused:
            _event(f"support {action} -> refused")

    # --- Convergence ---------------------------------------------------------------------------

    @rule()
    @step
    def faults_stop_and_converge(self):
        """Faults stop; the scheduler's ticks pass; every order must end, in time, with the
        books right."""
        for fault in self.faults.planned:
            STATS[f"wire fault {fault.call}/{fault.mode} hit {min(fault.hits, 1)}"] += 1
        self.faults.clear()
        # Stripe stops failing by itself; what it saved under keys is still replayed.
        self.semantics.clear_plans()
        stopped = self.clock()
        give_up, retry_max = setting("GIVE_UP_AFTER"), setting("RETRY_MAX")
        slack = setting("DRIVER_LEASE") + timedelta(minutes=2)
        pending_at_stop = {
            o.pk: max(o.created_at + give_up, stopped) + retry_max + slack
            for o in Order.objects.filter(status__in=PENDING_STATUSES)
        }
        for _ in range(60):
            if self.webhooks_get_through:
                self.deliver_all_now()  # the endpoint is back: Stripe's retries get through
            self._reconcile()
            outbox.dispatch_due_messages()
            due = self._next_due()
            if due is None:
                break
            # The scheduler ticks every minute; jump to the first tick at which something is due.
            self.clock.current = max(due, self.clock() + timedelta(minutes=1))
        view = self.observe_stripe()
        check_converged(view)
        # The shop's own audit, reading Stripe's side, must agree that nothing is broken.
        broken = [finding.line() for finding in audit_payments().broken]
        assert not broken, f"audit after convergence: {broken}"
        for message in OutboxMessage.objects.all():
            attempts = f"{message.attempts}" if message.attempts <= 3 else "4+"
            STATS[f"outbox {message.kind} (attempts {attempts})"] += 1

        for order in Order.objects.filter(pk__in=pending_at_stop):
            assert order.status_changed_at <= pending_at_stop[order.pk], (
                f"I4: order {order.pk} converged at {order.status_changed_at}, "
                f"{order.status_changed_at - pending_at_stop[order.pk]} past its deadline"
            )
            _event(f"converged -> {order.status}")
        for order in Order.objects.all():
            partly = " (part refunded)" if 0 < order.refunded_amount < order.total_amount else ""
            STATS[f"final {order.status}{partly}"] += 1

    def _next_due(self):
        now = self.clock()
        times = []
        for order in Order.objects.filter(status__in=PENDING_STATUSES):
            times.append(
                max(
                    order.created_at + setting("GRACE_PERIOD"),
                    order.next_attempt_at or now,
                    order.lease_until or now,
                )
            )
        for message in OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING):
            times.append(max(message.available_at, message.lease_until or now))
        return min(times) if times else None

    # --- After every step ------------------------------------------------------------------------

    @invariant()
    @step
    def books_agree(self):
        view = self.observe_stripe()
        check_safe(view, last_status=self.last_status, initial_stock=self.initial_stock)
        # What the next rules may pick from (preconditions read these, not the database).
        self.status_now = dict(self.last_status)
        self.pis_now = [view.pis[pi_id] for pi_id in sorted(view.pis)]
        self.awaiting_3ds = [
            (int(pi["metadata"]["order_id"]), pi["id"])
            for pi in self.pis_now
            if pi["status"] == "requires_action"
        ]

    def teardown(self):
        if not self.failed:
            if currently_in_test_context():
                note("teardown: faults stop and time passes")
            self.faults_stop_and_converge()
            self.books_agree()
