"""Fulfilment (shipped/delivered with carrier and tracking), restocking by staff (I7), and
the Support group's two new rights: ship and restock. The rights are frozen here, as in 0002;
``orders.permissions`` keeps the live list."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

NEW_SUPPORT_PERMISSIONS = ("ship_order", "restock_order")


def grant_fulfilment_to_support(apps, schema_editor):
    using = schema_editor.connection.alias
    app_config = apps.get_app_config("orders")
    app_config.models_module = True  # as in 0002: let create_permissions see the app
    create_permissions(app_config, verbosity=0, using=using, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(using).get_or_create(name="Support")
    group.permissions.add(
        *Permission.objects.using(using).filter(
            content_type__app_label="orders", codename__in=NEW_SUPPORT_PERMISSIONS
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_rename_product_table"),
        ("orders", "0008_order_charge_attempted"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="order",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("reconcile_order", "Can reconcile an order with Stripe now"),
                    ("cancel_order", "Can cancel and unwind an unpaid order"),
                    ("refund_order", "Can refund a paid order"),
                    ("resend_confirmation", "Can resend an order's confirmation email"),
                    ("ship_order", "Can mark a paid order shipped or delivered"),
                    ("restock_order", "Can put a paid order's goods back in stock"),
                ],
            },
        ),
        migrations.AddField(
            model_name="order",
            name="carrier",
            field=models.CharField(
                blank=True, db_default="", default="", editable=False, max_length=64
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="delivered_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="order",
            name="fulfilment_status",
            field=models.CharField(
                choices=[
                    ("unfulfilled", "Not shipped yet"),
                    ("shipped", "Shipped"),
                    ("delivered", "Delivered"),
                ],
                db_default="unfulfilled",
                default="unfulfilled",
                editable=False,
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="shipped_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="order",
            name="tracking_reference",
            field=models.CharField(
                blank=True, db_default="", default="", editable=False, max_length=64
            ),
        ),
        migrations.AddField(
            model_name="orderline",
            name="restocked_quantity",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="kind",
            field=models.CharField(
                choices=[
                    ("confirmation_email", "Order confirmation email"),
                    ("payment_failed_email", "Payment failed email"),
                    ("canceled_email", "Order cancelled email"),
                    ("refunded_email", "Refund email"),
                    ("shipped_email", "Shipped email"),
                    ("refund", "Refund at Stripe"),
                    ("cancel_payment_intent", "Cancel PaymentIntent at Stripe"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="orderline",
            constraint=models.CheckConstraint(
                condition=models.Q(("restocked_quantity__lte", models.F("quantity"))),
                name="orderline_restock_not_above_quantity",
            ),
        ),
        migrations.RunPython(grant_fulfilment_to_support, migrations.RunPython.noop),
    ]
