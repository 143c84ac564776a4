"""One Stripe request budget shared by every thread, process and host, checkout first.

Counted where requests leave for Stripe (the SDK's HTTP client), against the real stand-in
and Stripe's semantics (its token bucket answers 429 as Stripe does), on real PostgreSQL or
Redis. ``STRIPE_BUDGET_TESTS_OFF=1`` runs them without the budget: each then fails.
"""

import threading
import time

import pytest
import stripe as stripe_sdk
from django.db import connection

import stripe_gateway
from stripe_gateway import budget
from tests.conftest import CARD_OK
from tests.stripe_gateway.conftest import NotingHTTPClient, Sent

pytestmark = pytest.mark.slow

PI_READ = r"^/v1/payment_intents/pi_"


def most_in_any_second(times: list[float]) -> int:
    """The most requests sent within any one second (a window starting at each request)."""
    times = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def a_payment_intent(stripe_api) -> str:
    return stripe_api.create_payment_intent(
        amount=1000, currency="eur", payment_method=stripe_api.payment_method(CARD_OK)
    )["id"]


def hammer(work: str, payment_intent_id: str, *, threads: int, seconds: float, outcomes: list):
    """``threads`` threads retrieving one PaymentIntent as ``work`` for ``seconds``."""
    stop = time.monotonic() + seconds

    def run() -> None:
        try:
            with budget.work_class(work):
                while time.monotonic() < stop:
                    try:
                        stripe_gateway.retrieve_payment_intent(payment_intent_id)
                        outcomes.append((work, "ok"))
                    except stripe_gateway.TryLater as exc:
                        outcomes.append((work, "429" if "RateLimitError" in str(exc) else "budget"))
        finally:
            connection.close()

    return [threading.Thread(target=run, name=f"{work}-{i}") for i in range(threads)]


def run_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_threads_and_processes_sharing_one_budget_stay_under_its_rate(
    shared_budget, sent, stripe_api, other_process
):
    pi = a_payment_intent(stripe_api)
    start_at = time.time() + 4.0  # the other processes start Django meanwhile
    others = [
        other_process.start(threads=3, work=work, payment_intent=pi, start_at=start_at, seconds=3.0)
        for work in ("checkout", "checkout")
    ]
    time.sleep(max(0.0, start_at - time.time()))
    outcomes: list = []
    run_all(
        hammer("audit", pi, threads=3, seconds=3.0, outcomes=outcomes)
        + hammer("checkout", pi, threads=3, seconds=3.0, outcomes=outcomes)
    )
    results = [other_process.result(p) for p in others]

    times = [s.at for s in sent] + [at for r in results for at, _work in r["sent"]]
    assert all(not r["errors"] for r in results)
    # Every process's customers were served: one budget, shared, no process starved.
    assert all(len(r["sent"]) >= 4 for r in results)
    assert len([s for s in sent if s.work == "checkout"]) >= 4
    # GCRA at 10/s, 2 at once: at most 10 + 2 in any second (one more for scheduling).
    assert most_in_any_second(times) <= 13, most_in_any_second(times)
    # And it was used, not left idle: close to 10/s over the 3 seconds.
    assert len(times) >= 24


@pytest.mark.django_db(transaction=True)
def test_a_429_seen_by_one_process_pauses_the_background_work_of_another(
    shared_budget, settings, sent, stripe_api, stripe_says, other_process
):
    settings.STRIPE_BUDGET_COOL_DOWN_SECONDS = 20.0  # outlasts the other process's start
    pi = a_payment_intent(stripe_api)
    stripe_says.rate_limited(method="GET", path=PI_READ)
    with budget.work_class("reconcile"), pytest.raises(stripe_gateway.TryLater):
        stripe_gateway.retrieve_payment_intent(pi)
    assert [s.work for s in sent] == ["reconcile"]

    other = other_process.start(
        calls=[["audit", pi], ["webhook", pi], ["staff", pi], ["checkout", pi], ["checkout", pi]]
    )
    result = other_process.result(other)
    # The other process's background work sent nothing while the cool-down lasts ...
    assert sorted(result["refused"]) == ["audit", "staff", "webhook"]
    # ... and its checkouts went on (at a reduced rate).
    assert [work for _at, work in result["sent"]] == ["checkout", "checkout"]
    assert result["errors"] == []
    assert budget.snapshot()["rate_limited"] == 1


@pytest.mark.django_db(transaction=True)
def test_background_work_never_takes_the_checkouts_share(shared_budget, sent, stripe_api):
    pi = a_payment_intent(stripe_api)
    outcomes: list = []
    started = time.monotonic()
    run_all(
        hammer("reconcile", pi, threads=3, seconds=3.0, outcomes=outcomes)
        + hammer("audit", pi, threads=3, seconds=3.0, outcomes=outcomes)
        + hammer("checkout", pi, threads=2, seconds=3.0, outcomes=outcomes)
    )
    elapsed = time.monotonic() - started
    background = [s for s in sent if s.work != "checkout"]
    checkout = [s for s in sent if s.work == "checkout"]
    # Background: at most its half of 10/s, whatever it asks for; checkout: the rest at least.
    assert len(background) <= 0.5 * 10 * elapsed + 2, (len(background), elapsed)
    assert len(checkout) >= 0.5 * 10 * 3.0 - 2, len(checkout)
    assert ("checkout", "budget") not in outcomes


@pytest.mark.django_db(transaction=True)
def test_checkout_gets_through_while_background_work_saturates_the_budget(
    shared_budget, settings, sent, stripe_api, stripe_says, make_product, delivery
):
    from orders.checkout import LineRequest, place_order
    from orders.models import OrderStatus

    settings.STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS = 2.0
    stripe_says.rate_limit(10)  # the account's limit: Stripe answers 429 past 10/s
    product = make_product(stock=100)
    pi = a_payment_intent(stripe_api)
    cards = [stripe_api.payment_method(CARD_OK) for _ in range(6)]
    outcomes: list = []
    placed = []

    def customers() -> None:
        try:
            time.sleep(0.5)  # background work is at full speed by now
            for card in cards:
                order = place_order(
                    lines=[LineRequest(product.pk, 1)],
                    email="ann@example.com",
                    delivery=delivery,
                    payment_method_id=card,
                    checkout_token=card,
                )
                placed.append(order.status)
        finally:
            connection.close()

    run_all(
        hammer("reconcile", pi, threads=4, seconds=3.5, outcomes=outcomes)
        + hammer("webhook", pi, threads=2, seconds=3.5, outcomes=outcomes)
        + [threading.Thread(target=customers)]
    )
    assert placed == [OrderStatus.PAID] * 6
    customer_requests = [s for s in sent if s.work == "checkout"]
    assert len(customer_requests) == 12  # a create and a confirm each, none refused
    limited = [s for s in stripe_says.semantics.seen(method=None) if s.how == "429"]
    assert limited == []  # nobody was rate-limited: the budget kept everyone under 10/s
    assert sum(1 for work, outcome in outcomes if outcome == "ok") >= 5


@pytest.mark.django_db(transaction=True)
def test_a_rate_limited_call_is_sent_once_and_cools_the_budget_down(
    shared_budget, sent, stripe_api, stripe_says
):
    pi = a_payment_intent(stripe_api)
    stripe_says.rate_limited(method="GET", path=PI_READ, times=5)
    with budget.work_class("checkout"), pytest.raises(stripe_gateway.TryLater):
        stripe_gateway.retrieve_payment_intent(pi)
    assert sent == [Sent(sent[0].at, "GET", f"/v1/payment_intents/{pi}", "checkout")]
    assert budget.snapshot()["rate_limited"] == 1


@pytest.mark.django_db(transaction=True)
def test_the_sdk_never_retries_behind_the_budgets_back(
    shared_budget, sent, stripe_api, stripe_says
):
    """The SDK retries a 409 (and 5xx, lost connections) by itself when allowed to: requests
    the budget would never have counted. Each request the shop sends took its own token."""
    stripe_says.key_in_use(path=r"^/v1/payment_intents$", times=5)
    with pytest.raises(stripe_gateway.TryLater):
        stripe_gateway.create_payment_intent(
            amount=1000,
            currency="eur",
            payment_method_id=stripe_api.payment_method(CARD_OK),
            order_id=1,
            order_reference="ORD-ONCE",
            idempotency_key="budget-once",
        )
    assert [(s.method, s.path) for s in sent] == [("POST", "/v1/payment_intents")]


# --- one endpoint's own limit ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_endpoint_stays_under_its_own_limit_while_others_use_the_rest(
    shared_budget, settings, sent, stripe_api
):
    """Stripe limits most single endpoints apart (25/s, live mode too): here the account has
    10/s and each endpoint 2/s. Reads of PaymentIntents keep to 2/s; lists, another
    endpoint with a bucket of its own, go on beside them at their own 2/s."""
    settings.STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND = 2.0
    pi = a_payment_intent(stripe_api)
    outcomes: list = []

    def lists() -> None:
        stop = time.monotonic() + 3.0
        try:
            with budget.work_class("checkout"):
                while time.monotonic() < stop:
                    next(stripe_gateway.payment_intent_pages(page_size=1))
        finally:
            connection.close()

    run_all(
        hammer("checkout", pi, threads=3, seconds=3.0, outcomes=outcomes)
        + [threading.Thread(target=lists)]
    )
    reads = [s.at for s in sent if s.path.startswith("/v1/payment_intents/")]
    listed = [s.at for s in sent if s.path == "/v1/payment_intents"]
    # A GCRA of 2/s with a burst of 2: at most 2 + 2 in any second (the account alone
    # would have let the three readers have ~7 a second).
    assert most_in_any_second(reads) <= 2 + 2, most_in_any_second(reads)
    assert len(reads) >= 2 * 3.0 - 1, len(reads)
    # The lists were not held back by the reads' limit: each endpoint has its own.
    assert most_in_any_second(listed) <= 2 + 2, most_in_any_second(listed)
    assert len(listed) >= 2 * 3.0 - 1, len(listed)
    assert ("checkout", "budget") not in outcomes


# --- dj-stripe's own calls (the SDK's global client) -----------------------------------------


@pytest.fixture
def djstripe_sent(monkeypatch, stripe_api, stripe_semantics) -> list[Sent]:
    """Every request dj-stripe sends through the SDK's global client, under its budget."""
    log: list[Sent] = []
    inner = NotingHTTPClient(stripe_semantics, log, threading.Lock(), timeout=5)
    # The client installed at start-up, with the wire under it swapped for one that notes.
    monkeypatch.setattr(stripe_sdk.default_http_client, "inner", inner)
    return log


def djstripe_reads(payment_intent_id: str):
    """A read as dj-stripe makes them (its model's ``stripe_class``, the SDK's global client)."""
    from django.conf import settings
    from djstripe.models import PaymentIntent
    from djstripe.settings import djstripe_settings

    return PaymentIntent.stripe_class.retrieve(
        id=payment_intent_id,
        api_key=settings.STRIPE_SECRET_KEY,
        stripe_version=djstripe_settings.STRIPE_API_VERSION,
    )


@pytest.mark.django_db(transaction=True)
def test_dj_stripes_own_calls_take_tokens_from_the_same_budget(
    shared_budget, djstripe_sent, stripe_api
):
    pi = a_payment_intent(stripe_api)
    before = budget.snapshot()["granted"]
    with budget.work_class("webhook"):
        djstripe_reads(pi)
    assert [(s.method, s.path, s.work) for s in djstripe_sent] == [
        ("GET", f"/v1/payment_intents/{pi}", "webhook")
    ]
    assert budget.snapshot()["granted"] == before + 1


@pytest.mark.django_db(transaction=True)
def test_dj_stripes_calls_wait_out_a_cool_down_like_any_background_work(
    shared_budget, settings, djstripe_sent, stripe_api
):
    pi = a_payment_intent(stripe_api)
    settings.STRIPE_BUDGET_COOL_DOWN_SECONDS = 20.0
    budget.note_rate_limited(code="rate_limit")
    with budget.work_class("webhook"), pytest.raises(stripe_gateway.TryLater):
        djstripe_reads(pi)
    assert djstripe_sent == []


@pytest.mark.django_db(transaction=True)
def test_a_429_answered_to_dj_stripe_cools_the_whole_budget_down(
    shared_budget, djstripe_sent, stripe_api, stripe_says
):
    pi = a_payment_intent(stripe_api)
    stripe_says.rate_limited(method="GET", path=PI_READ)
    with budget.work_class("webhook"), pytest.raises(stripe_sdk.RateLimitError):
        djstripe_reads(pi)
    assert len(djstripe_sent) == 1
    assert budget.snapshot()["rate_limited"] == 1


def test_a_caller_outside_any_entry_point_is_background():
    assert budget.current_class() == "other"
    with budget.work_class("staff"):
        with budget.work_class("reconcile", unless_set=True):
            assert budget.current_class() == "staff"
        with budget.work_class("checkout"):
            assert budget.current_class() == "checkout"
    with pytest.raises(ValueError, match="unknown Stripe work class"):
        budget.work_class("vip").__enter__()


# --- the connection it runs on ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_a_pool_no_connection_is_held_while_stripe_answers(
    shared_budget, pooled, monkeypatch, stripe_api, stripe_semantics, checkout
):
    """The checkout hands its connection back before each call; the budget borrows one for
    its statement and hands it back again, so none is held while Stripe answers."""
    from orders.models import OrderStatus
    from tests.stripe_stand_in import StripeHTTPClient

    held = []

    class Noting(StripeHTTPClient):
        def request(self, method, url, headers, post_data=None):
            held.append(connection.connection is not None)
            return super().request(method, url, headers, post_data)

    monkeypatch.setattr(
        "stripe_gateway.client.build_http_client", lambda: Noting(stripe_semantics, timeout=5)
    )
    assert checkout().status == OrderStatus.PAID
    assert held[-2:] == [False, False]  # the create and the confirm
    assert budget.snapshot()["granted"] >= 2 or shared_budget.backend != "database"


@pytest.mark.django_db(transaction=True)
def test_a_call_inside_a_transaction_does_not_lock_the_budget_for_other_hosts(
    shared_budget, sent, stripe_api
):
    """Stripe is never called inside a transaction by the shop, but if someone does, the
    budget's row is written on a connection of its own: no other host waits for that
    transaction to end."""
    from django.db import transaction

    pi = a_payment_intent(stripe_api)
    other: list = []

    def another_host() -> None:
        try:
            with budget.work_class("checkout"):
                stripe_gateway.retrieve_payment_intent(pi)
            other.append("sent")
        finally:
            connection.close()

    with transaction.atomic():
        with budget.work_class("checkout"):
            stripe_gateway.retrieve_payment_intent(pi)
        thread = threading.Thread(target=another_host)
        thread.start()
        thread.join(timeout=5)
        assert other == ["sent"], "the other host waited for this transaction"
    thread.join()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "state, foreground",
    [
        # (tat, background_tat, cool_until) relative to now, in seconds
        ((-5.0, -5.0, -5.0), True),  # idle: at once
        ((0.35, 0.0, -5.0), True),  # queued: waits 0.25 s (burst 2 at 10/s: 0.1 s of slack)
        ((9.0, 0.0, -5.0), True),  # beyond the checkout's wait: refused
        ((0.5, 0.0, 5.0), True),  # cooling down: no slack, 0.5 s
        ((-5.0, -5.0, -5.0), False),  # idle: background goes
        ((0.05, -5.0, -5.0), False),  # checkout's reserve would be touched: refused
        ((-5.0, 0.5, -5.0), False),  # over the background's own share: refused
        ((-5.0, -5.0, 5.0), False),  # cooling down: refused
    ],
)
def test_the_one_statement_take_decides_as_the_rule_does(shared_budget, state, foreground):
    """PostgreSQL takes a token in one UPDATE; it must say what ``budget.decide`` says."""
    if shared_budget.backend != "database":
        pytest.skip("the one-statement take is PostgreSQL's")
    store = budget.DatabaseStore()
    name = shared_budget.name
    _, now = store.read(name)  # creates the row
    tat, background_tat, cool_until = (now + offset for offset in state)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {budget.TABLE} SET tat = %s, background_tat = %s, cool_until = %s "
            "WHERE name = %s",
            [tat, background_tat, cool_until, name],
        )
    before, now = store.read(name)
    expected = budget.decide(before, now=now, foreground=foreground, cfg=shared_budget)
    expected_ok = expected.granted and expected.wait <= shared_budget.checkout_wait
    taken = store.take(
        name, foreground=foreground, cfg=shared_budget, max_wait=shared_budget.checkout_wait
    )
    assert (taken is not None) == expected_ok
    if taken is not None:
        assert taken == pytest.approx(expected.wait, abs=0.02)
        after, _ = store.read(name)
        assert after.tat == pytest.approx(expected.state.tat, abs=0.02)
        assert after.background_tat == pytest.approx(expected.state.background_tat, abs=0.02)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "code, retry_after, cools_for",
    [("rate_limit", "", 1.0), ("rate_limit", "4", 4.0), ("rate_limit", "junk", 1.0)],
)
def test_a_429_cools_down_for_stripes_retry_after_or_the_setting(
    shared_budget, code, retry_after, cools_for
):
    started = time.time()
    budget.note_rate_limited(code=code, retry_after=retry_after)
    assert budget.snapshot()["cool_until"] - started == pytest.approx(cools_for, abs=0.5)


@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_is_one_busy_object_not_the_accounts_rate(shared_budget):
    budget.note_rate_limited(code="lock_timeout")
    assert budget.snapshot()["rate_limited"] == 0


def test_the_rate_defaults_to_stripes_limit_for_the_keys_mode(settings):
    from tests.payments.stripe_api_fake import key

    settings.STRIPE_RATE_LIMIT_PER_SECOND = None
    settings.STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND = None
    settings.STRIPE_BUDGET_BURST = None
    settings.STRIPE_SECRET_KEY = key("sk", "test")
    assert (budget.config().rate, budget.config().burst) == (25.0, 5)
    # In test mode the account's 25/s is the tighter limit: no endpoint token is taken.
    assert not budget.config().per_endpoint
    settings.STRIPE_SECRET_KEY = key("sk", "live")
    assert (budget.config().rate, budget.config().burst) == (100.0, 20)
    # Live, one endpoint may take 25 of the account's 100 a second.
    assert budget.config().per_endpoint
    endpoint = budget.config().for_endpoint("payment_intents.retrieve")
    assert (endpoint.rate, endpoint.burst) == (25.0, 5)
    assert endpoint.name == budget.config().name + ":payment_intents.retrieve"
    # One budget per account: the name stands for the key without showing it.
    assert budget.config().name.startswith("account:")
    assert "SetupTestKey" not in budget.config().name
