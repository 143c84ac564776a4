from django.db import migrations

# A frozen copy of payments.schedules.SCHEDULES: migrations must not import live code.
SCHEDULES = [
    ("reconcile-payments", "payments.tasks.reconcile_payments", 1),
    ("dispatch-outbox", "orders.tasks.dispatch_due_outbox", 1),
    ("audit-payments", "payments.tasks.audit_payments", 60),
]


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, migrations.RunPython.noop)]
