"""The Stripe-semantics stand-in layer on its own: no shop, no database, no localstripe."""

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from devtools.stripe_semantics import StripeRequest, StripeResponse, StripeSemantics

ACCOUNT = {"Authorization": "Bearer sk_test_a"}


class Upstream:
    """A stand-in that counts what reached it and answers with a running number."""

    def __init__(self, status: int = 200):
        self.status = status
        self.calls = 0

    def __call__(self) -> StripeResponse:
        self.calls += 1
        body = json.dumps({"n": self.calls}).encode()
        return StripeResponse(self.status, {"Content-Type": "application/json"}, body)


def post(key="k1", body=b"amount=100&currency=eur", path="/v1/payment_intents", **headers):
    return StripeRequest("POST", path, {**ACCOUNT, "Idempotency-Key": key, **headers}, body)


class Clock:
    def __init__(self):
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self):
        return self.at


def test_first_answer_is_saved_and_replayed_with_the_header():
    semantics, upstream = StripeSemantics(), Upstream()
    first = semantics.handle(post(), upstream)
    again = semantics.handle(post(), upstream)
    assert upstream.calls == 1
    assert again.body == first.body and again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_same_parameters_in_another_order_are_the_same_request():
    semantics, upstream = StripeSemantics(), Upstream()
    semantics.handle(post(body=b"amount=100&currency=eur"), upstream)
    replay = semantics.handle(post(body=b"currency=eur&amount=100"), upstream)
    assert upstream.calls == 1 and replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("other", [post(body=b"amount=200&currency=eur"), post(path="/v1/refunds")])
def test_same_key_with_other_parameters_or_endpoint_is_an_idempotency_error(other):
    semantics, upstream = StripeSemantics(), Upstream()
    semantics.handle(post(), upstream)
    answer = semantics.handle(other, upstream)
    assert upstream.calls == 1
    assert answer.status == 400
    assert json.loads(answer.body)["error"]["type"] == "idempotency_error"
    # Not saved: the original request still replays.
    assert semantics.handle(post(), upstream).headers["Idempotent-Replayed"] == "true"


def test_keys_are_per_account_and_get_requests_are_never_replayed():
    semantics, upstream = StripeSemantics(), Upstream()
    semantics.handle(post(), upstream)
    semantics.handle(post(Authorization="Bearer sk_test_b"), upstream)
    read = StripeRequest("GET", "/v1/payment_intents/pi_1", {**ACCOUNT, "Idempotency-Key": "k1"})
    semantics.handle(read, upstream)
    semantics.handle(read, upstream)
    assert upstream.calls == 4


def test_a_request_still_in_flight_answers_409_to_its_twin_and_saves_nothing():
    semantics = StripeSemantics()
    inside, release = threading.Event(), threading.Event()
    answers = []

    def slow():
        inside.set()
        release.wait(5)
        return StripeResponse(200, {}, b"{}")

    first = threading.Thread(target=lambda: answers.append(semantics.handle(post(), slow)))
    first.start()
    assert inside.wait(5)
    twin = semantics.handle(post(), Upstream())
    release.set()
    first.join(5)
    assert twin.status == 409
    assert json.loads(twin.body)["error"]["code"] == "idempotency_key_in_use"
    assert answers[0].status == 200
    assert semantics.handle(post(), Upstream()).headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("status,saved", [(400, False), (404, False), (402, True), (500, True)])
def test_validation_errors_are_not_saved_declines_and_server_errors_are(status, saved):
    semantics = StripeSemantics()
    semantics.handle(post(), Upstream(status))
    upstream = Upstream(200)
    again = semantics.handle(post(), upstream)
    assert (again.status, upstream.calls) == ((status, 0) if saved else (200, 1))


@pytest.mark.parametrize("answer,reaches", [("500_before", 0), ("500_after", 1)])
def test_stripe_own_500_is_saved_and_replayed_whether_or_not_the_write_happened(answer, reaches):
    semantics, upstream = StripeSemantics(), Upstream()
    semantics.plan(answer, path=r"/v1/payment_intents$")
    for _ in range(3):
        assert semantics.handle(post(), upstream).status == 500
    assert upstream.calls == reaches
    assert [s.how for s in semantics.seen()] == [answer, "replayed", "replayed"]
    # A new key is a new request.
    assert semantics.handle(post(key="k2"), upstream).status == 200


def test_a_500_says_whether_sending_it_again_can_help():
    """A saved 500 (and each replay) says ``Stripe-Should-Retry: false``; a 500 from before
    the endpoint began says ``true``, saves nothing, and the same key then runs."""
    semantics, upstream = StripeSemantics(), Upstream()
    semantics.plan("500_before", path=r"/v1/payment_intents$")
    saved = [semantics.handle(post(), upstream) for _ in range(2)]
    assert [r.headers["Stripe-Should-Retry"] for r in saved] == ["false", "false"]
    semantics.plan("500_unsaved", path=r"/v1/payment_intents$")
    unsaved = semantics.handle(post(key="k2"), upstream)
    assert (unsaved.status, unsaved.headers["Stripe-Should-Retry"]) == (500, "true")
    assert upstream.calls == 0
    assert semantics.handle(post(key="k2"), upstream).status == 200
    assert upstream.calls == 1
    assert [s.how for s in semantics.seen()] == [
        "500_before",
        "replayed",
        "500_unsaved",
        "forwarded",
    ]


def test_keys_are_pruned_after_24_hours_of_the_given_clock():
    clock, upstream = Clock(), Upstream()
    semantics = StripeSemantics(now=clock)
    semantics.handle(post(), upstream)
    clock.at += timedelta(hours=23, minutes=59)
    semantics.handle(post(body=b"amount=1"), upstream)  # still known: refused
    assert upstream.calls == 1
    clock.at += timedelta(minutes=1)
    assert semantics.handle(post(body=b"amount=1"), upstream).status == 200
    assert upstream.calls == 2


def test_rate_limit_answers_429_before_the_idempotency_layer_and_saves_nothing():
    ticks = [0.0]
    semantics = StripeSemantics(rate_limit=2, monotonic=lambda: ticks[0])
    upstream = Upstream()
    assert [semantics.handle(post(key=f"k{i}"), upstream).status for i in range(3)] == [
        200,
        200,
        429,
    ]
    limited = semantics.handle(post(key="k2"), upstream)
    assert json.loads(limited.body)["error"]["code"] == "rate_limit"
    ticks[0] += 0.5  # one token back
    assert semantics.handle(post(key="k2"), upstream).status == 200
    assert upstream.calls == 3


def test_planned_429_and_409_are_answered_once_and_never_saved():
    semantics, upstream = StripeSemantics(), Upstream()
    semantics.plan("429", method=None)
    semantics.plan("409", key="k1")
    assert semantics.handle(post(), upstream).status == 429
    assert semantics.handle(post(), upstream).status == 409
    assert semantics.handle(post(), upstream).status == 200
    assert upstream.calls == 1


def test_a_fraction_of_writes_fails_by_itself_and_the_failures_are_replayed():
    semantics, upstream = StripeSemantics(fail_writes=0.5, seed=3), Upstream()
    first = [semantics.handle(post(key=f"k{i}"), upstream).status for i in range(40)]
    again = [semantics.handle(post(key=f"k{i}"), upstream).status for i in range(40)]
    assert 5 < first.count(500) < 35
    assert again == first


def test_without_idempotency_planned_answers_are_given_once_and_nothing_is_replayed():
    semantics, upstream = StripeSemantics(idempotency=False), Upstream()
    semantics.plan("500_before", path="/v1/payment_intents$")
    assert semantics.handle(post(), upstream).status == 500
    assert semantics.handle(post(), upstream).status == 200
    assert semantics.handle(post(), upstream).status == 200
    assert upstream.calls == 2


def test_the_async_wrapper_shares_the_sync_core():
    semantics = StripeSemantics()

    async def forward():
        await asyncio.sleep(0)
        return StripeResponse(200, {}, b"{}")

    async def both():
        return [await semantics.handle_async(post(), forward) for _ in range(2)]

    # In a thread of its own: another test (Playwright) may leave a loop running in this one.
    results = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(both())))
    runner.start()
    runner.join(10)
    [(first, second)] = results
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
