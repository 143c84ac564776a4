"""The operator commands support staff and on-call engineers run: clear errors, honest help."""

from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from orders.models import OrderStatus

pytestmark = pytest.mark.django_db(transaction=True)


def run(name, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", ["reconcile_payments", "audit_payments", "payments_report"])
def test_every_operator_command_explains_itself_in_help(name):
    command = load_command_class(get_commands()[name], name)
    text = " ".join(command.create_parser("manage.py", name).format_help().split())
    assert len(command.help) > 80
    assert "Exits 1" in text or "exits 1" in text


@pytest.mark.parametrize(
    "args, error",
    [
        (["--limit", "0"], "--limit must be a positive number"),
        (["--older-than", "yesterday"], "Invalid duration 'yesterday'"),
        (["--order", "ORD-NOSUCH00"], "No order 'ORD-NOSUCH00'"),
        (
            ["--order", "ORD-X", "--older-than", "5m"],
            "--older-than cannot be combined with --order",
        ),
    ],
)
def test_reconcile_payments_refuses_bad_arguments_clearly(args, error):
    with pytest.raises(CommandError, match=error):
        run("reconcile_payments", *args)


def test_audit_payments_refuses_bad_arguments_clearly():
    with pytest.raises(CommandError, match="--max-payment-intents must be a positive number"):
        run("audit_payments", "--max-payment-intents", "0")


def test_reconcile_payments_reports_progress_and_outcome_for_a_stuck_order(stuck_order, clock):
    order = stuck_order()
    clock.advance(minutes=1)
    out, err = run("reconcile_payments")
    assert "1 orders examined" in err
    assert "Reconciled 1 orders (paid: 1)." in out
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_reconcile_payments_dry_run_says_what_it_would_do_and_changes_nothing(stuck_order, clock):
    order = stuck_order()
    clock.advance(minutes=1)
    out, _ = run("reconcile_payments", "--dry-run", "--order", order.reference.lower())
    assert f"{order.reference} [payment_starting" in out
    assert "Dry run: 1 orders would be reconciled." in out
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_STARTING
