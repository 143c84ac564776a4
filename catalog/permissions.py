"""The Catalog group: what staff who run the shop's catalog may do, and nothing else.

Kept in shape after every ``migrate`` (and every test-database flush) by
``ensure_catalog_group`` on ``post_migrate``. Give it to the owner's staff accounts so they
manage products, pictures and categories without being superusers (who also see the
Stripe mirror, see shop/admin_site.py).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

CATALOG_GROUP = "Catalog"
CATALOG_MODELS = ("product", "productimage", "category")
CATALOG_PERMISSIONS = tuple(
    f"{action}_{model}"
    for model in CATALOG_MODELS
    for action in ("add", "change", "delete", "view")
)


def ensure_catalog_group(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Create the Catalog group with exactly CATALOG_PERMISSIONS (idempotent)."""
    create_permissions(global_apps.get_app_config("catalog"), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(using).get_or_create(name=CATALOG_GROUP)
    group.permissions.set(
        Permission.objects.using(using).filter(
            content_type__app_label="catalog", codename__in=CATALOG_PERMISSIONS
        )
    )
