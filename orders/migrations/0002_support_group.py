"""The support actions' permissions, and the Support group that holds exactly what support needs.

Django creates permissions on ``post_migrate``, after all migrations ran, so this migration
creates them itself before it assigns them. The list is frozen here on purpose (a migration
must not change meaning when the code moves on); ``orders.permissions`` keeps the live copy
that ``post_migrate`` re-applies.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_GROUP = "Support"
SUPPORT_PERMISSIONS = (
    ("orders", "view_order"),
    ("orders", "view_orderline"),
    ("orders", "view_orderevent"),
    ("orders", "view_outboxmessage"),
    ("orders", "view_unmatchedpaymentevent"),
    ("orders", "reconcile_order"),
    ("orders", "cancel_order"),
    ("orders", "refund_order"),
    ("orders", "resend_confirmation"),
    ("payments", "view_reconcilerrun"),
)


def create_support_group(apps, schema_editor):
    using = schema_editor.connection.alias
    for label in ("orders", "payments"):
        app_config = apps.get_app_config(label)
        # The historical app config has no models module; create_permissions skips those.
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(
        [
            Permission.objects.using(using).get(content_type__app_label=label, codename=codename)
            for label, codename in SUPPORT_PERMISSIONS
        ]
    )


def remove_support_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=SUPPORT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("payments", "0001_initial"),
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
                ],
            },
        ),
        migrations.RunPython(create_support_group, remove_support_group),
    ]
