"""The Support group: exactly the rights support staff need to answer payment questions.

The group is created by migration ``orders.0002_support_group`` and kept in shape after every
``migrate`` (and every test-database flush) by ``ensure_support_group`` on ``post_migrate``.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

SUPPORT_GROUP = "Support"

# (app_label, codename): read the orders and their history, and perform the safe actions.
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
    ("orders", "resolve_unmatchedpaymentevent"),
    ("orders", "ship_order"),
    ("orders", "restock_order"),
    ("payments", "view_reconcilerrun"),
)


def ensure_support_group(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Create the Support group with exactly SUPPORT_PERMISSIONS; running it twice changes nothing.

    Django creates permissions on ``post_migrate`` app by app; the ``payments`` app may not have
    had its turn yet, so the permissions are created here first (an idempotent no-op otherwise).
    """
    for label in {label for label, _ in SUPPORT_PERMISSIONS}:
        try:
            app_config = global_apps.get_app_config(label)
        except LookupError:
            return
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = []
    for label, codename in SUPPORT_PERMISSIONS:
        wanted.append(
            Permission.objects.using(using).get(content_type__app_label=label, codename=codename)
        )
    group, _ = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(wanted)
