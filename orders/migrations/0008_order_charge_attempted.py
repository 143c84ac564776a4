from django.db import migrations, models


def mark_existing(apps, schema_editor):
    """Orders already past a confirm: waiting for 3-D Secure, paid or refunded."""
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(status__in=["requires_action", "paid", "refunded"]).update(
        charge_attempted=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_demo_shipping_rates"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="charge_attempted",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_existing, migrations.RunPython.noop),
    ]
