import pytest
from django_q.models import Schedule

from payments.schedules import SCHEDULES, ensure_schedules


@pytest.mark.django_db
def test_schedules_exist_after_migrate_and_ensuring_them_twice_changes_nothing():
    names = {name for name, _, _ in SCHEDULES}
    assert set(Schedule.objects.filter(name__in=names).values_list("name", flat=True)) == names
    ensure_schedules()
    ensure_schedules()
    assert Schedule.objects.filter(name__in=names).count() == len(names)
    reconcile = Schedule.objects.get(name="reconcile-payments")
    assert reconcile.func == "payments.tasks.reconcile_payments"
    assert reconcile.schedule_type == Schedule.MINUTES and reconcile.minutes == 1


@pytest.mark.django_db(transaction=True)
def test_scheduled_reconcile_task_converges_a_stuck_order(checkout, faults, clock, stripe_api):
    from orders.models import OrderStatus
    from payments import tasks

    faults.add("lost_response", path="/confirm")
    faults.add("timeout", method="GET", path="/v1/payment_intents/")
    order = checkout()
    clock.advance(minutes=2)
    result = tasks.reconcile_payments()
    assert result["outcomes"] == {"paid": 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert tasks.audit_payments()["broken"] == []
