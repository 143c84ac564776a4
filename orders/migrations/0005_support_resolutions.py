"""Support resolves what the health page flags: failed refunds (a "resolved" outbox state) and
unmatched Stripe events (who, when, why, which order); the Support group may do the latter."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

SUPPORT_GROUP = "Support"
# Frozen here, as in 0002: the Support group's rights this migration adds.
GRANTED = (("orders", "resolve_unmatchedpaymentevent"),)


def grant_resolve_permission(apps, schema_editor):
    using = schema_editor.connection.alias
    app_config = apps.get_app_config("orders")
    # The historical app config has no models module; create_permissions skips those.
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, using=using, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    group.permissions.add(
        *[
            Permission.objects.using(using).get(content_type__app_label=label, codename=codename)
            for label, codename in GRANTED
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0004_key_round"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="unmatchedpaymentevent",
            options={
                "ordering": ["-received_at"],
                "permissions": [
                    (
                        "resolve_unmatchedpaymentevent",
                        "Can attach an unmatched Stripe event to an order or dismiss it",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="unmatchedpaymentevent",
            name="order",
            field=models.ForeignKey(
                blank=True,
                help_text="The order support attached this event to.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="attached_stripe_events",
                to="orders.order",
            ),
        ),
        migrations.AddField(
            model_name="unmatchedpaymentevent",
            name="resolution",
            field=models.CharField(
                blank=True,
                choices=[("attached", "Attached to an order"), ("dismissed", "Dismissed")],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="unmatchedpaymentevent",
            name="resolution_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="unmatchedpaymentevent",
            name="resolved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="unmatchedpaymentevent",
            name="resolved_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="state",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sent", "Done"),
                    ("failed", "Failed (gave up)"),
                    ("resolved", "Resolved outside the shop"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.RunPython(grant_resolve_permission, migrations.RunPython.noop),
    ]
