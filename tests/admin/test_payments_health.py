"""The payments health figures, on the admin page and from payments_report (for cron)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from orders.models import OrderStatus, OutboxMessage
from payments.health import format_duration, payments_health
from payments.management.commands.payments_report import Command as PaymentsReport
from payments.reconcile import reconcile_pending_orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def troubled_shop(make_order, clock):
    """Two healthy paid orders, one pending past grace, one stuck for hours, one failed refund."""
    now = clock()
    make_order(OrderStatus.PAID)
    make_order(OrderStatus.PAID)
    waiting = make_order(OrderStatus.PAYMENT_STARTING, created_at=now - timedelta(minutes=2))
    stuck = make_order(OrderStatus.REQUIRES_ACTION, created_at=now - timedelta(hours=3))
    refunded = make_order(OrderStatus.PAID, created_at=now - timedelta(minutes=30))
    OutboxMessage.objects.create(
        order=refunded,
        kind=OutboxMessage.Kind.REFUND,
        state=OutboxMessage.State.FAILED,
        available_at=now,
        created_at=now,
        last_error="card expired",
        payload={"payment_intent_id": refunded.payment_intent_id, "amount": 500},
    )
    OutboxMessage.objects.create(
        order=waiting,
        kind=OutboxMessage.Kind.CONFIRMATION_EMAIL,
        available_at=now,
        created_at=now - timedelta(seconds=40),
    )
    return {"waiting": waiting, "stuck": stuck, "refunded": refunded}


def report(*args) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("payments_report", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def test_health_figures(troubled_shop):
    health = payments_health()
    assert health.counts == {
        "payment_starting": 1,
        "requires_action": 1,
        "paid": 3,
        "payment_failed": 0,
        "canceled": 0,
        "refunded": 0,
    }
    assert health.oldest_pending.reference == troubled_shop["stuck"].reference
    assert health.oldest_pending.age == timedelta(hours=3)
    assert health.pending_past_grace == 2
    assert health.stuck == 1
    assert health.refunds_failed == 1
    assert [(i.reference, i.why) for i in health.attention] == [
        (troubled_shop["stuck"].reference, ["pending past the deadline"]),
        (troubled_shop["refunded"].reference, ["Refund at Stripe failed"]),
    ]
    assert (health.outbox_pending, health.outbox_failed) == (1, 1)
    assert health.outbox_oldest_pending_age == timedelta(seconds=40)
    assert health.last_run is None
    assert health.alerting


def test_health_shows_the_last_reconciler_run(stuck_order, clock):
    stuck_order()
    clock.advance(minutes=1)
    reconcile_pending_orders()
    health = payments_health()
    assert health.last_run.state == "ok"
    assert health.last_run.outcomes == {"paid": 1}
    assert health.counts["paid"] == 1 and health.pending == 0


def test_health_page_renders_the_figures_for_support(support_client, troubled_shop):
    response = support_client.get(reverse("admin:payments_health"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Attention: 1 order stuck past the deadline" in html
    assert troubled_shop["stuck"].reference in html and "3h old" in html
    assert "Refund at Stripe failed" in html
    assert "The reconciler has never run." in html
    assert "Payments health" in html


def test_report_prints_the_figures_and_exits_1_when_an_order_is_stuck(troubled_shop):
    text, code = report()
    assert code == 1
    assert "Orders by state: payment_starting 1, requires_action 1, paid 3" in text
    assert (
        f"Oldest pending order: {troubled_shop['stuck'].reference} (requires_action), 3h old"
        in text
    )
    assert "Pending past the grace period (30s): 2" in text
    assert "Stuck past the deadline (1h 10m): 1" in text
    assert "Failed refunds: 1" in text
    assert "Last reconciler run: never" in text
    assert "Outbox backlog: 1 pending (oldest 40s), 1 failed" in text


def test_report_as_json(troubled_shop):
    text, code = report("--json")
    figures = json.loads(text)
    assert code == 1
    assert figures["alerting"] is True
    assert figures["stuck"] == 1
    assert figures["counts"]["paid"] == 3
    assert figures["oldest_pending"]["age_seconds"] == 3 * 3600
    assert figures["outbox"] == {"pending": 1, "oldest_pending_age_seconds": 40, "failed": 1}
    assert {item["reference"] for item in figures["attention"]} == {
        troubled_shop["stuck"].reference,
        troubled_shop["refunded"].reference,
    }


def test_report_exits_0_when_all_is_well(checkout):
    checkout()
    text, code = report()
    assert code == 0
    assert "Stuck past the deadline (1h 10m): 0" in text
    assert json.loads(report("--json")[0])["alerting"] is False


def test_report_deadline_can_be_set(make_order, clock):
    make_order(OrderStatus.PAYMENT_STARTING, created_at=clock() - timedelta(minutes=20))
    assert report()[1] == 0
    text, code = report("--stuck-after", "15m")
    assert code == 1
    assert "Stuck past the deadline (15m): 1" in text


@pytest.mark.parametrize(
    "args, error",
    [
        (["--stuck-after", "soon"], "Invalid duration 'soon'"),
        (["--stuck-after=-5m"], "must not be negative"),
        (["--stuck-after", "0"], "--stuck-after must be longer than 0s"),
        (["--limit", "-1"], "--limit must be 0 or a positive number"),
    ],
)
def test_report_refuses_bad_arguments_clearly(args, error):
    with pytest.raises(CommandError, match=error):
        call_command("payments_report", *args, stdout=StringIO())


def test_report_help_explains_the_exit_code():
    text = " ".join(
        PaymentsReport().create_parser("manage.py", "payments_report").format_help().split()
    )
    assert "Exits 1 when an order" in text and "--stuck-after" in text and "--json" in text


def test_format_duration():
    assert format_duration(None) == "—"
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(timedelta(seconds=40)) == "40s"
    assert format_duration(timedelta(hours=1, minutes=10, seconds=3)) == "1h 10m"
    assert format_duration(timedelta(days=2, hours=5)) == "2d 5h"
