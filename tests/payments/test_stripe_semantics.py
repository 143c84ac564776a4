"""The shop against Stripe as it really behaves (``devtools.stripe_semantics``), not as the
stand-in forgives: saved and replayed 500s, a key reused with other parameters, 409 and 429.

Each test is named after the failure it proves absent. ``stripe_says`` plans Stripe's own
answers; the semantics layer records every request as Stripe answered it (``seen``), so a test
can say which idempotency key each attempt used.
"""

from datetime import timedelta

import pytest
from django.conf import settings

import stripe_gateway
from orders import policy
from orders.models import Order, OrderEvent, OrderStatus, OutboxMessage
from orders.outbox import dispatch as outbox
from orders.support import actions as support
from payments.audit import audit_payments
from payments.reconcile import reconcile_pending_orders
from stripe_gateway import keys
from tests.invariants import assert_invariants

pytestmark = pytest.mark.django_db(transaction=True)

CREATE, CONFIRM, CANCEL, REFUND = (
    r"/v1/payment_intents$",
    r"/confirm$",
    r"/cancel$",
    r"/v1/refunds$",
)


def backoffs(n: int) -> timedelta:
    return n * settings.PAYMENTS["RETRY_MAX"]


def run_reconciler(clock, order: Order, *, until) -> Order:
    """The scheduled reconciler, once a minute of test time, until the order ends or ``until``."""
    while clock() < until:
        order.refresh_from_db()
        if not order.is_pending:
            break
        clock.advance(minutes=1)
        reconcile_pending_orders()
    order.refresh_from_db()
    return order


def past_deadline(order: Order, n: int = 3):
    """The order's give-up deadline plus ``n`` of the longest backoffs."""
    return policy.give_up_at(order.created_at) + backoffs(n)


def keys_sent(stripe_says, path: str) -> list[tuple[str, str]]:
    """(idempotency key, how Stripe answered it) for each POST to ``path``, in order."""
    return [(s.key, s.how) for s in stripe_says.semantics.seen(path)]


def new_key_events(order: Order) -> list[OrderEvent]:
    return [
        e
        for e in order.events.filter(kind=OrderEvent.Kind.STRIPE)
        if "the next attempt uses new keys" in e.message
    ]


def succeeded(stripe_api) -> list[str]:
    return [pi["id"] for pi in stripe_api.payment_intents() if pi["status"] == "succeeded"]


# --- a 500 saved under a key ---------------------------------------------------------------


def test_a_500_saved_on_confirm_does_not_cancel_a_good_card_at_the_give_up_deadline(
    checkout, stripe_says, stripe_api, clock
):
    stripe_says.server_error(CONFIRM)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING

    order = run_reconciler(clock, order, until=past_deadline(order))
    assert order.status == OrderStatus.PAID
    assert succeeded(stripe_api) == [order.payment_intent_id]
    key = order.idempotency_key
    assert keys_sent(stripe_says, CONFIRM) == [
        (f"{key}:confirm", "500_before"),
        (f"{key}:confirm:r1", "forwarded"),
    ]
    [event] = new_key_events(order)
    assert event.details["key_round"] == 1
    assert_invariants(stripe_api)


@pytest.mark.parametrize("after_write", [False, True], ids=["nothing_created", "pi_created"])
def test_a_500_saved_on_create_does_not_cancel_a_good_card_at_the_give_up_deadline(
    checkout, stripe_says, stripe_api, clock, after_write
):
    stripe_says.server_error(CREATE, after_write=after_write)
    order = checkout()
    assert order.payment_intent_id is None

    order = run_reconciler(clock, order, until=past_deadline(order))
    assert order.status == OrderStatus.PAID
    assert succeeded(stripe_api) == [order.payment_intent_id]
    key = order.idempotency_key
    assert keys_sent(stripe_says, CREATE) == [
        (f"{key}:create", "500_before" if not after_write else "500_after"),
        (f"{key}:create:r1", "forwarded"),
    ]
    assert len(new_key_events(order)) == 1
    # The PaymentIntent Stripe made before failing (if any) was never confirmed.
    others = [pi for pi in stripe_api.payment_intents() if pi["id"] != order.payment_intent_id]
    assert [pi["status"] for pi in others] == (["requires_confirmation"] if after_write else [])
    assert_invariants(stripe_api)


def test_a_500_saved_on_the_unwinds_cancel_does_not_leave_the_order_pending_past_its_deadline(
    checkout, faults, stripe_says, stripe_api, clock
):
    faults.add("lost_request", path="/confirm")
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = checkout()
    assert order.payment_intent_id and order.status == OrderStatus.PAYMENT_STARTING
    clock.current = policy.give_up_at(order.created_at) + timedelta(seconds=1)
    stripe_says.server_error(CANCEL)

    order = run_reconciler(clock, order, until=past_deadline(order))
    assert order.status == OrderStatus.CANCELED
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "canceled"
    assert succeeded(stripe_api) == []
    key = order.idempotency_key
    assert keys_sent(stripe_says, CANCEL) == [
        (f"{key}:cancel", "500_before"),
        (f"{key}:cancel:r1", "forwarded"),
    ]
    assert len(new_key_events(order)) == 1
    assert_invariants(stripe_api)


@pytest.mark.parametrize("after_write", [False, True], ids=["not_refunded", "refunded"])
def test_an_outbox_refund_whose_create_got_a_saved_500_is_made_exactly_once(
    checkout, stripe_says, stripe_api, clock, django_user_model, after_write
):
    order = checkout()
    staff = django_user_model.objects.create_user("agent", is_staff=True)
    stripe_says.server_error(REFUND, after_write=after_write)
    message = support.refund_order(
        restock=False,
        order_id=order.pk,
        amount=500,
        actor=staff,
        reason="scratched",
        request_token="r1",
    )
    for _ in range(4):
        message.refresh_from_db()
        if message.state != OutboxMessage.State.PENDING:
            break
        clock.current = message.available_at
        outbox.dispatch_due_messages()
    message.refresh_from_db()
    order.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT
    assert [r["amount"] for r in stripe_api.refunds(order.payment_intent_id)] == [500]
    assert order.refunded_amount == 500
    key = keys.outbox_key(order.idempotency_key, message.kind, message.discriminator)
    # A refund Stripe made before failing is found by its outbox id: no second request.
    assert keys_sent(stripe_says, REFUND) == (
        [(key, "500_after")] if after_write else [(key, "500_before"), (f"{key}:r1", "forwarded")]
    )


def test_an_orphan_refund_whose_amount_changed_is_not_sent_again_under_the_same_key(
    stripe_says, stripe_api, clock, db
):
    pi = stripe_api.create_payment_intent(
        amount=1234,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        confirm="true",
        metadata={"order_id": "987654", "shop": settings.STRIPE_METADATA_TAG},
    )
    stripe_says.server_error(REFUND)
    report = audit_payments(fix=True)
    assert [f.invariant for f in report.broken] == ["I2"]
    assert stripe_api.refunds(pi["id"]) == []
    stripe_api.refund(pi["id"], 234)  # someone refunds part of it in the dashboard meanwhile
    clock.advance(hours=1)  # the next hourly audit

    report = audit_payments(fix=True)
    assert not report.broken
    assert sorted(r["amount"] for r in stripe_api.refunds(pi["id"])) == [234, 1000]
    [(first, how), (second, _)] = keys_sent(stripe_says, REFUND)
    assert how == "500_before" and first != second
    assert f":{pi['id']}:1234:" in first and f":{pi['id']}:1000:" in second


# --- a key reused with other parameters ------------------------------------------------------


def test_a_create_key_reused_with_other_metadata_still_converges_without_a_double_charge(
    checkout, faults, stripe_says, stripe_api, clock, settings
):
    faults.add("lost_response", path="/v1/payment_intents")
    order = checkout()
    [lost] = stripe_api.payment_intents()
    assert order.payment_intent_id is None and lost["status"] == "requires_confirmation"
    settings.STRIPE_METADATA_TAG = f"{settings.STRIPE_METADATA_TAG}-v2"  # a deploy in between

    order = run_reconciler(clock, order, until=past_deadline(order))
    assert order.status == OrderStatus.PAID
    assert succeeded(stripe_api) == [order.payment_intent_id] != [lost["id"]]
    assert stripe_api.payment_intent(lost["id"])["status"] == "requires_confirmation"
    key = order.idempotency_key
    assert keys_sent(stripe_says, CREATE) == [
        (f"{key}:create", "forwarded"),
        (f"{key}:create", "idempotency_error"),
        (f"{key}:create:r1", "forwarded"),
    ]
    assert len(new_key_events(order)) == 1
    assert_invariants(stripe_api)


# --- 429 and 409: nothing done, the same key later -------------------------------------------


@pytest.mark.parametrize("answer", ["429", "409"])
@pytest.mark.parametrize("call", [CREATE, CONFIRM])
def test_a_rate_limit_or_key_in_use_is_retried_later_with_the_same_key(
    checkout, stripe_says, stripe_api, clock, answer, call
):
    if answer == "429":
        stripe_says.rate_limited(path=call, method="POST")
    else:
        stripe_says.key_in_use(path=call)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert stripe_api.payment_intents() == [] or call == CONFIRM

    order = run_reconciler(clock, order, until=past_deadline(order))
    assert order.status == OrderStatus.PAID
    assert succeeded(stripe_api) == [order.payment_intent_id]
    assert len(stripe_api.payment_intents()) == 1
    name = "create" if call == CREATE else "confirm"
    key = f"{order.idempotency_key}:{name}"
    assert keys_sent(stripe_says, call) == [(key, answer), (key, "forwarded")]
    assert new_key_events(order) == []
    assert_invariants(stripe_api)


# --- Stripe-Should-Retry ----------------------------------------------------------------------


@pytest.mark.parametrize("call", [CREATE, CONFIRM])
def test_a_500_stripe_says_to_retry_is_sent_again_with_the_same_key(
    checkout, stripe_says, stripe_api, clock, call
):
    """A 500 with ``Stripe-Should-Retry: true`` was not saved under the key: the same key
    runs the request when sent again, and no new key round is spent on it."""
    stripe_says.unsaved_error(call)
    order = checkout()
    assert order.status == OrderStatus.PAYMENT_STARTING

    order = run_reconciler(clock, order, until=past_deadline(order))
    assert order.status == OrderStatus.PAID
    assert order.key_round == 0
    name = "create" if call == CREATE else "confirm"
    key = f"{order.idempotency_key}:{name}"
    assert keys_sent(stripe_says, call) == [(key, "500_unsaved"), (key, "forwarded")]
    assert new_key_events(order) == []
    assert len(stripe_api.payment_intents()) == 1
    assert_invariants(stripe_api)


# --- the stand-in's clock ---------------------------------------------------------------------


def test_stripe_forgets_a_key_after_24_hours_of_the_test_clock(stripe_says, stripe_api, clock):
    card = stripe_api.payment_method()

    def create(amount: int):
        return stripe_gateway.create_payment_intent(
            amount=amount,
            currency="eur",
            payment_method_id=card,
            order_id=1,
            order_reference="ORD-PRUNE",
            idempotency_key="prune-me",
        )

    first = create(1000)
    with pytest.raises(stripe_gateway.KeyConflict):
        create(2000)
    clock.advance(hours=23, minutes=59)
    assert create(1000).id == first.id  # still saved: the same PaymentIntent
    clock.advance(minutes=1)
    assert create(2000).amount == 2000  # pruned: a new request
