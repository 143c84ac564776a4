"""The reconciler: stale pending orders converge; the give-up policy unwinds; backoff is kept."""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

import stripe_gateway
from orders import clock as order_clock
from orders.models import PENDING_STATUSES, Order, OrderEvent, OrderStatus
from orders.payment.apply import apply_payment_intent
from orders.state import transition_order
from payments.models import ReconcilerRun
from payments.reconcile import claim_batch, reconcile_pending_orders
from payments.sweeps import STOPPED_RATE_LIMITED, STOPPED_TIME_BOX, TimeBox
from tests.conftest import CARD_3DS, CARD_DECLINED, CARD_OK
from tests.invariants import assert_converged, assert_invariants
from tests.races import run_together
from tests.stripe_stand_in import SlowStripe

pytestmark = pytest.mark.django_db(transaction=True)

PI_READ = "/v1/payment_intents/"


def give_up_after():
    return settings.PAYMENTS["GIVE_UP_AFTER"]


@pytest.fixture
def lost_confirm_reply(faults):
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)


@pytest.fixture
def confirm_never_sent(faults):
    faults.add("lost_request", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)


def test_orders_inside_the_grace_period_are_left_to_their_own_request(
    checkout, lost_confirm_reply, clock
):
    order = checkout()
    summary = reconcile_pending_orders()
    assert summary.examined == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING


def test_reconciler_records_its_run_for_the_health_page(
    checkout, lost_confirm_reply, clock, stripe_api
):
    checkout()
    clock.advance(minutes=2)
    reconcile_pending_orders()
    run = ReconcilerRun.objects.latest()
    assert run.examined == 1
    assert run.outcomes == {"paid": 1}
    assert run.ok


def test_give_up_unwinds_an_unpaid_order_cancels_its_payment_and_releases_stock(
    checkout, confirm_never_sent, clock, stripe_api, make_product
):
    product = make_product(stock=4)
    order = checkout(product=product, quantity=3)
    product.refresh_from_db()
    assert product.stock == 1
    clock.advance(seconds=give_up_after().total_seconds() + 1)

    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "canceled"
    product.refresh_from_db()
    assert product.stock == 4
    # The confirm never reached Stripe, so no charge was attempted: no email (the order's
    # page says it was cancelled; see tests/orders/test_unpaid_emails.py).
    assert mail.outbox == []
    assert_invariants(stripe_api)


def test_give_up_never_re_sends_a_payment_with_an_old_key(checkout, faults, clock, stripe_api):
    faults.add("lost_request", path="/v1/payment_intents")
    order = checkout()
    assert order.payment_intent_id is None
    clock.advance(seconds=give_up_after().total_seconds() + 1)
    faults.log.clear()

    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert faults.log == []  # nothing was sent to Stripe at all
    assert stripe_api.payment_intents() == []


def test_give_up_finds_the_payment_succeeded_after_all_and_completes_the_order(
    checkout, lost_confirm_reply, clock, stripe_api
):
    order = checkout()
    clock.advance(seconds=give_up_after().total_seconds() + 1)
    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert_invariants(stripe_api)


def test_abandoned_three_d_secure_is_cancelled_at_the_deadline(checkout, clock, stripe_api):
    order = checkout(CARD_3DS)
    assert order.status == OrderStatus.REQUIRES_ACTION
    clock.advance(minutes=5)
    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.REQUIRES_ACTION  # the customer may still come back

    clock.advance(seconds=give_up_after().total_seconds())
    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert stripe_api.payment_intent(order.payment_intent_id)["status"] == "canceled"


def test_retries_back_off_and_record_the_last_error(checkout, faults, clock, stripe_api):
    faults.add("timeout", path="/v1/payment_intents", times=100)
    faults.add("timeout", method="GET", path=PI_READ, times=100)
    order = checkout()
    clock.advance(minutes=1)  # past the grace period
    delays = []
    for _ in range(4):
        order.refresh_from_db()
        clock.current = max(clock.current, order.next_attempt_at) + timedelta(seconds=1)
        reconcile_pending_orders()
        order.refresh_from_db()
        delays.append((order.next_attempt_at - clock()).total_seconds())
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert order.attempts == 5
    assert "timed out" in order.last_error
    assert delays == sorted(delays) and delays[-1] > delays[0]
    assert order.events.filter(kind=OrderEvent.Kind.RECONCILE).count() == 5

    faults.clear()
    clock.advance(hours=1)  # past any backoff, still before the deadline? no: past it -> unwound
    reconcile_pending_orders()
    order.refresh_from_db()
    assert order.status in (OrderStatus.PAID, OrderStatus.CANCELED)
    assert_invariants(stripe_api)


def test_two_reconcilers_at_once_never_touch_the_same_order(
    checkout, lost_confirm_reply, faults, clock, stripe_api, make_product
):
    product = make_product(stock=50)
    for _ in range(12):
        faults.add("lost_response", path="/confirm")
        faults.add("timeout", method="GET", path=PI_READ)
        checkout(product=product)
    faults.clear()
    clock.advance(minutes=2)

    def reconciler():
        return reconcile_pending_orders(batch_size=3, record_run=False)

    results = run_together(reconciler, reconciler)
    assert sum(r.examined for r in results) >= 12
    assert_converged()
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 12
    assert len(mail.outbox) == 12
    assert_invariants(stripe_api)


def test_claimed_batches_are_disjoint(checkout, lost_confirm_reply, faults, clock, make_product):
    product = make_product(stock=10)
    for _ in range(4):
        faults.add("lost_response", path="/confirm")
        faults.add("timeout", method="GET", path=PI_READ)
        checkout(product=product)
    clock.advance(minutes=2)
    first = claim_batch(size=3, token="a" * 32)
    second = claim_batch(size=3, token="b" * 32)
    assert len(first) == 3 and len(second) == 1
    assert not set(first) & set(second)
    assert first == sorted(first)  # oldest first


def test_reconcile_command_dry_run_prints_and_changes_nothing(
    checkout, lost_confirm_reply, clock, capsys, stripe_api
):
    order = checkout()
    clock.advance(minutes=2)
    call_command("reconcile_payments", "--dry-run")
    out = capsys.readouterr().out
    assert order.reference in out
    assert "succeeded" in out
    assert "1 orders would be reconciled" in out
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING


def test_reconcile_command_for_one_order_ignores_the_grace_period(
    checkout, lost_confirm_reply, capsys, stripe_api
):
    order = checkout()
    call_command("reconcile_payments", "--order", order.reference)
    assert "Reconciled 1 orders (paid: 1)" in capsys.readouterr().out
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


@pytest.mark.parametrize(
    "args, message",
    [
        (["--older-than", "soon"], "Invalid duration"),
        (["--older-than=-5m"], "must not be negative"),
        (["--order", "ORD-NOPE"], "No order"),
        (["--limit", "0"], "positive"),
    ],
)
def test_reconcile_command_refuses_bad_arguments(args, message, db):
    with pytest.raises(CommandError, match=message):
        call_command("reconcile_payments", *args)


def test_reconcile_command_exits_non_zero_when_an_order_fails(
    checkout, lost_confirm_reply, clock, monkeypatch
):
    from django.db import OperationalError

    from payments import reconcile

    checkout()
    clock.advance(minutes=2)

    def broken(order_id, **kwargs):
        raise OperationalError("database went away")

    monkeypatch.setattr(reconcile, "converge_order", broken)
    with pytest.raises(CommandError) as excinfo:
        call_command("reconcile_payments", "--limit", "1")
    assert excinfo.value.returncode == 1


def test_unfulfillable_payment_is_refunded_and_the_order_says_why(
    checkout, confirm_never_sent, clock, stripe_api
):
    order = checkout()
    transition_order(order.pk, OrderStatus.CANCELED, cause="test", reason="closed by test")
    stripe_api.confirm(order.payment_intent_id)  # the payment goes through anyway
    apply_payment_intent(
        order.pk, stripe_gateway.retrieve_payment_intent(order.payment_intent_id), cause="test"
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert "refunded in full" in order.status_reason
    assert order.refunded_amount == order.total_amount
    assert_invariants(stripe_api)


def test_amount_mismatch_is_refunded_not_kept(checkout, faults, stripe_api):
    faults.add("lost_request", path="/v1/payment_intents")
    order = checkout()
    wrong = stripe_api.create_payment_intent(
        amount=order.total_amount + 100,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        confirm="true",
        metadata={"order_id": str(order.pk), "shop": settings.STRIPE_METADATA_TAG},
    )
    apply_payment_intent(
        order.pk, stripe_gateway.retrieve_payment_intent(wrong["id"]), cause="test"
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert "refunded in full" in order.status_reason
    assert sum(r["amount"] for r in stripe_api.refunds(wrong["id"])) == wrong["amount"]


def test_converging_an_order_costs_few_statements(
    checkout, lost_confirm_reply, faults, clock, monkeypatch
):
    """Per order, after the batch claim: read it; a token from the shared Stripe budget (one
    UPDATE) for the read at Stripe; step 3 (lock, status, timeline, outbox). It is
    driven under the batch's lease, neither claimed again nor re-read (see the reconciler
    benchmark); the outbox task is left out (queued synchronously in the tests)."""
    from django.test.utils import CaptureQueriesContext

    order = checkout()
    faults.clear()
    clock.advance(seconds=settings.PAYMENTS["GRACE_PERIOD"].total_seconds() + 1)
    monkeypatch.setattr("orders.outbox.store.queue_dispatch", lambda message_id: None)
    token = "batch-lease"
    assert claim_batch(size=10, token=token) == [order.pk]
    with CaptureQueriesContext(connection) as captured:
        from orders.payment.converge import converge_order as reconcile_order

        assert reconcile_order(order.pk, lease_token=token) == OrderStatus.PAID
    statements = [
        q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")
    ]
    assert len(statements) <= 6, "\n".join(s[:100] for s in statements)
    order.refresh_from_db()
    assert (order.status, order.lease_token, order.lease_until) == (OrderStatus.PAID, "", None)


# --- reading in bulk, time-boxed runs --------------------------------------------------------

PI_LIST = r"^/v1/payment_intents$"
PI_ONE = r"^/v1/payment_intents/pi_[^/]+$"


def test_many_stale_orders_are_settled_from_a_handful_of_list_requests(
    checkout, faults, clock, stripe_semantics, make_product
):
    # A backlog as a database outage leaves it: Stripe decided (paid or declined), the
    # replies were lost, and the read after them timed out.
    product = make_product(stock=100)
    orders = []
    for i in range(24):
        faults.add("lost_response", path="/confirm")
        faults.add("timeout", method="GET", path=PI_READ)
        orders.append(checkout(CARD_DECLINED if i % 4 == 0 else CARD_OK, product=product))
    assert {o.status for o in orders} == {OrderStatus.PAYMENT_STARTING}
    clock.advance(minutes=2)
    stripe_semantics.reset()  # count the sweep's requests only

    summary = reconcile_pending_orders()

    statuses = Counter(
        Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)
    )
    assert statuses == {OrderStatus.PAID: 18, OrderStatus.PAYMENT_FAILED: 6}
    assert len(stripe_semantics.seen(PI_LIST, method="GET")) == 1
    assert stripe_semantics.seen(PI_ONE, method="GET") == []  # not one read one by one
    assert summary.settled_from_list == 24
    # Nothing written by the sweep: the only writes are the outbox closing declined payments.
    writes = stripe_semantics.seen("", method="POST")
    assert len(writes) == 6 and all(w.path.endswith("/cancel") for w in writes)


def test_a_run_lists_each_stretch_of_its_batches_windows_once_while_it_is_fresh(monkeypatch):
    """Batches come oldest first and their windows overlap by the margins: each list reads
    only what no fresh list covered; a stretch listed over a minute ago is listed again."""
    from payments.reconcile import (
        LISTED_MAX_AGE,
        WINDOW_AFTER,
        WINDOW_BEFORE,
        PaymentIntentWindow,
        ReconcileSummary,
    )
    from stripe_gateway.calls import PaymentIntentPage

    listed: list[tuple[int, int]] = []

    def pages(*, created_gte, created_lte, starting_after=None):
        listed.append((created_gte, created_lte))
        yield PaymentIntentPage([], None, True)

    monkeypatch.setattr("stripe_gateway.payment_intent_pages", pages)
    window = PaymentIntentWindow(ReconcileSummary(), TimeBox(seconds=600))
    now = [1000.0]
    window.monotonic = lambda: now[0]
    start = order_clock.now().replace(microsecond=0) - timedelta(minutes=20)
    t0 = int(start.timestamp())
    before, after = int(WINDOW_BEFORE.total_seconds()), int(WINDOW_AFTER.total_seconds())

    def batch(first: int, last: int) -> list[Order]:
        return [
            Order(created_at=start + timedelta(seconds=s), payment_intent_id=f"pi_{s}")
            for s in range(first, last + 1)
        ]

    window.read(batch(0, 9))
    window.read(batch(10, 19))
    now[0] += LISTED_MAX_AGE / 2
    window.read(batch(20, 29))
    now[0] += LISTED_MAX_AGE  # the first two lists are stale now, the third is not
    window.read(batch(30, 39))
    assert listed == [
        (t0 - before, t0 + 9 + after),
        (t0 + 9 + after, t0 + 19 + after),  # from the last second listed, read again
        (t0 + 19 + after, t0 + 29 + after),
        (t0 + 30 - before, t0 + 19 + after),  # listed too long ago
        (t0 + 29 + after, t0 + 39 + after),
    ]


def test_an_order_whose_payment_intent_is_not_in_the_window_is_read_on_its_own(
    checkout, faults, clock, stripe_semantics, stripe_api
):
    # Its PaymentIntent is older than its row says: outside the window listed for it.
    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    Order.objects.filter(pk=order.pk).update(created_at=order.created_at + timedelta(minutes=30))
    clock.advance(minutes=35)
    stripe_semantics.reset()

    reconcile_pending_orders()

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(stripe_semantics.seen(PI_LIST, method="GET")) == 1
    assert len(stripe_semantics.seen(PI_ONE, method="GET")) == 1


def test_a_time_boxed_run_stops_gives_back_its_claims_and_the_next_run_finishes(
    checkout, faults, clock, stripe_semantics, monkeypatch, make_product, capsys
):
    # Five orders that never reached Stripe: each needs a create and a confirm.
    product = make_product(stock=10)
    orders = []
    for _ in range(5):
        faults.add("lost_request", path="/v1/payment_intents")
        orders.append(checkout(product=product))
    assert all(o.payment_intent_id is None for o in orders)
    clock.advance(minutes=2)
    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client",
        lambda: SlowStripe(
            stripe_semantics, clock, seconds=5, timeout=settings.STRIPE_TIMEOUT_SECONDS
        ),
    )

    # 10 s a order: the second one starts at 10 s, inside the 12 s box; the rest do not.
    summary = reconcile_pending_orders(time_box=TimeBox(seconds=12))

    assert summary.partial and summary.stopped == STOPPED_TIME_BOX
    assert summary.outcomes == {"paid": 2}
    assert summary.released == 3
    left = Order.objects.filter(pk__in=[o.pk for o in orders], status=OrderStatus.PAYMENT_STARTING)
    assert left.count() == 3
    # Nothing is left half-claimed: the next run (or any worker) may take them at once.
    assert not left.exclude(lease_token="").exists()
    assert not left.filter(lease_until__isnull=False).exists()

    call_command("reconcile_payments", "--time-box", "12s")
    out = capsys.readouterr().out
    assert "Reconciled 2 orders (paid: 2)" in out
    assert "Partial run: stopped early (time box reached); 1 claimed orders given back" in out

    summary = reconcile_pending_orders(time_box=TimeBox(seconds=60))
    assert not summary.partial and summary.outcomes == {"paid": 1}
    assert not Order.objects.filter(status__in=PENDING_STATUSES).exists()


def test_a_list_stripe_keeps_rate_limiting_ends_the_run_and_gives_the_batch_back(
    checkout, lost_confirm_reply, clock, stripe_says
):
    order = checkout()
    clock.advance(minutes=2)
    stripe_says.rate_limited(method="GET", path=PI_LIST, times=10)

    summary = reconcile_pending_orders()

    assert summary.stopped == STOPPED_RATE_LIMITED and summary.released == 1
    assert summary.examined == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING and order.lease_token == ""
    assert stripe_says.semantics.seen(PI_ONE, method="GET") == []  # no read one by one either
