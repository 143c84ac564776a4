"""Reconcile now answers at once: the work goes to the worker, the page says so and refreshes.

Stripe is made slow at the HTTP layer (a gate the test opens); the proof that the page did
not wait for it is the order of events, not a stopwatch.
"""

import re
import socket
import threading

import pytest
from django.conf import settings
from django.urls import reverse
from django_q.models import OrmQ

from orders import clock as order_clock
from orders.models import Order, OrderEvent, OrderStatus
from tests.admin.test_support_actions import act, said
from tests.stripe_stand_in import StripeHTTPClient

pytestmark = pytest.mark.django_db(transaction=True)

REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+">')
FOLDED = re.compile(r"<details\b.*?</details>", re.S)


class GatedStripe(StripeHTTPClient):
    """The SDK's HTTP client, holding every request until the test opens the gate.

    The wait has a bound only so that a page that does call Stripe inline (the bug) fails
    the test instead of hanging it.
    """

    def __init__(self, gate: threading.Event, log: list, semantics, **kwargs):
        super().__init__(semantics, **kwargs)
        self.gate, self.log = gate, log

    def request(self, method, url, headers, post_data=None):
        self.log.append("stripe:start")
        self.gate.wait(timeout=3)
        try:
            return super().request(method, url, headers, post_data)
        finally:
            self.log.append("stripe:done")


@pytest.fixture
def slow_stripe(monkeypatch, stripe_semantics):
    """From when it is called, every Stripe request waits for the gate the test opens."""

    def install() -> tuple[threading.Event, list]:
        gate, log = threading.Event(), []
        monkeypatch.setattr(
            "stripe_gateway.client.build_http_client",
            lambda: GatedStripe(
                gate, log, stripe_semantics, timeout=settings.STRIPE_TIMEOUT_SECONDS
            ),
        )
        return gate, log

    return install


def order_page(client, order):
    return client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()


def test_reconcile_now_answers_before_the_slow_stripe_call_and_the_page_refreshes_until_done(
    support_client, support_user, stuck_order, slow_stripe, worker_queue
):
    order = stuck_order()
    gate, log = slow_stripe()
    response = act(support_client, order, "reconcile", reason="customer says they paid")
    log.append("response")
    # The page answered before any Stripe call even started: the work is queued.
    assert log == ["response"]
    assert said(response) == [
        f"Check of order {order.reference} with Stripe requested: it runs in the background "
        "and this page refreshes until it is done."
    ]
    page = response.content.decode()
    assert REFRESH.search(page)
    assert "Checking with Stripe: reconcile requested by sam" in page
    [request] = order.events.filter(kind=OrderEvent.Kind.STAFF, cause="staff:reconcile")
    assert request.actor == support_user
    assert request.message == "Reconcile requested by sam: customer says they paid"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING

    gate.set()
    assert worker_queue() == ["orders.tasks.reconcile_for_support"]
    assert log[0] == "response" and log[-1] == "stripe:done"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    [result] = order.events.filter(cause="staff:reconcile_result")
    assert result.details["request_id"] == request.pk
    page = order_page(support_client, order)
    assert not REFRESH.search(page)
    assert "Reconcile finished: the order is paid." in page


def test_a_double_submit_or_a_second_agent_queues_one_check(
    support_client, stuck_order, worker_queue
):
    order = stuck_order()
    act(support_client, order, "reconcile", token="same")
    again = act(support_client, order, "reconcile", token="same")
    other = act(support_client, order, "reconcile", token="other-agent")
    expected = [
        f"A check of order {order.reference} with Stripe is already running; this page "
        "refreshes until it is done."
    ]
    assert said(again) == said(other) == expected
    assert OrmQ.objects.count() == 1
    assert order.events.filter(cause="staff:reconcile").count() == 1
    assert worker_queue() == ["orders.tasks.reconcile_for_support"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_reconcile_now_of_an_order_being_driven_says_so_and_queues_nothing(
    support_client, stuck_order, worker_queue
):
    order = stuck_order()
    Order.objects.filter(pk=order.pk).update(
        lease_until=order_clock.now() + settings.PAYMENTS["DRIVER_LEASE"], lease_token="x" * 32
    )
    response = act(support_client, order, "reconcile", reason="customer waiting")
    [message] = said(response)
    assert message.startswith(f"Order {order.reference} is being worked on right now")
    assert "no second check was queued" in message
    assert not OrmQ.objects.exists()
    assert not order.events.filter(cause="staff:reconcile").exists()


def test_a_check_that_never_reports_back_stops_refreshing_and_says_why(
    support_client, stuck_order, worker_queue, clock
):
    order = stuck_order()
    act(support_client, order, "reconcile")
    assert REFRESH.search(order_page(support_client, order))
    clock.advance(minutes=30)  # the worker is down: the task never ran
    page = order_page(support_client, order)
    assert not REFRESH.search(page)
    assert "has not reported back" in page


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: connections to it are refused


def test_stripe_unreachable_is_said_in_plain_words_with_the_sdk_text_folded_away(
    support_client, stuck_order, settings
):
    order = stuck_order()
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{_dead_port()}"
    response = act(support_client, order, "reconcile", reason="customer asks")
    [message] = said(response)
    visible = FOLDED.sub("", message)
    assert visible.startswith(f"Order {order.reference} is still payment starting.")
    assert "Stripe did not answer in time" in visible
    assert "The shop retries automatically" in visible
    # The SDK's own words (which invite agents to email Stripe) are only in the folded detail.
    for raw in ("support@stripe.com", "HTTPConnectionPool", "APIConnectionError"):
        assert raw not in visible
    assert "support@stripe.com" in "".join(FOLDED.findall(message))
    # Nowhere on the order page (message, last error, timeline) outside a folded detail.
    page = FOLDED.sub("", response.content.decode())
    assert "support@stripe.com" not in page and "HTTPConnectionPool" not in page
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING
    assert "support@stripe.com" in order.last_error  # kept whole for developers
