"""Log lines say which request and order they concern, once each (issue 14).

Before: the formatter printed only time, level, logger and message, dropping every `extra`
field; django.* lines were printed twice with DEBUG on (Django's own console handler and the
root's); each forged webhook logged a full traceback. These tests format records with the
handler and formatters the settings configure.
"""

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from orders.models import Order, OrderStatus
from tests.orders.pages import pay
from tests.payments.webhook_helpers import deliver, event_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
PAYMENT_LOGGERS = ("orders", "payments", "stripe_gateway")


@pytest.fixture
def json_log():
    """Every record, formatted by the settings' JSON formatter and context filter."""
    configurator = logging.config.DictConfigurator({})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        configurator.configure_formatter(dict(settings.LOGGING["formatters"]["json"]))
    )
    handler.addFilter(configurator.configure_filter(dict(settings.LOGGING["filters"]["context"])))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_every_payment_line_of_a_checkout_names_its_request_order_key_and_payment_intent(
    shopper, stripe_api, json_log, settings
):
    settings.REQUEST_ID_HEADER = "X-Request-ID"
    response = pay(shopper, stripe_api, HTTP_X_REQUEST_ID="req-checkout-1")
    assert response["X-Request-ID"] == "req-checkout-1"
    order = Order.objects.get()
    assert order.status == OrderStatus.PAID

    lines = [line for line in json_log() if line["logger"].startswith(PAYMENT_LOGGERS)]
    assert {line["message"] for line in lines} >= {"order recorded", "order transition"}
    for line in lines:
        assert line["request_id"] == "req-checkout-1", line
        assert line["order_reference"] == order.reference, line
        assert line["idempotency_key"] == order.idempotency_key, line
    [paid] = [line for line in lines if line.get("to") == OrderStatus.PAID]
    assert paid["payment_intent_id"] == order.payment_intent_id
    assert paid["level"] == "INFO" and paid["time"]
    # Each event once: no line repeated.
    assert len({json.dumps(line, sort_keys=True) for line in lines}) == len(lines)


def test_a_request_id_is_made_when_none_is_trusted(shopper, stripe_api, json_log, settings):
    settings.REQUEST_ID_HEADER = ""  # the default: a client's header is not believed
    response = pay(shopper, stripe_api, HTTP_X_REQUEST_ID="forged")
    made = response["X-Request-ID"]
    assert made != "forged" and len(made) == 32
    lines = [line for line in json_log() if line["logger"].startswith(PAYMENT_LOGGERS)]
    assert lines and {line["request_id"] for line in lines} == {made}


def test_a_forged_webhook_is_one_warning_line_without_a_traceback(client, json_log):
    event = event_for({"id": "pi_x", "object": "payment_intent"}, "payment_intent.succeeded")
    response = deliver(client, event, secret="whsec_not_the_right_one")
    assert response.status_code == 400

    lines = json_log()
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("WARNING", "payments.webhooks", "webhook refused")
    ]
    assert lines[0]["reason"] == "signature or body did not verify"
    assert "exc_info" not in lines[0] and lines[0]["request_id"]


def run_logging(code: str, **env) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LOG_"))}
    clean.update(DJANGO_SETTINGS_MODULE="shop.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", "import django, logging; django.setup()\n" + code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


LOG_TWO_LINES = (
    "logging.getLogger('django.request').warning('Not Found: %s', '/nothing')\n"
    "logging.getLogger('orders.state').info('order transition', extra={'order_id': 7})\n"
)


def test_the_demos_text_lines_appear_once_and_carry_the_extra_fields():
    lines = run_logging(LOG_TWO_LINES, DJANGO_DEBUG="1")
    assert len(lines) == 2, lines
    assert lines[0].endswith("WARNING django.request Not Found: /nothing")
    assert lines[1].endswith("INFO orders.state order transition order_id=7")


def test_production_lines_are_json_with_the_extra_fields():
    lines = run_logging(LOG_TWO_LINES, DJANGO_SECRET_KEY="x" * 60)
    records = [json.loads(line) for line in lines]
    assert [(r["logger"], r["message"]) for r in records] == [
        ("django.request", "Not Found: /nothing"),
        ("orders.state", "order transition"),
    ]
    assert records[1]["order_id"] == 7 and records[1]["level"] == "INFO"
