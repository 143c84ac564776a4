"""The demo's staff logins: only with SHOP_DEMO on; the owner is staff, not a superuser."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_demo_logins_include_an_owner_who_runs_catalog_and_orders_without_being_superuser(
    settings,
):
    settings.SHOP_DEMO = True
    call_command("ensure_demo_staff", password="demo-pass-123")

    owner = User.objects.get(username="owner")
    assert owner.is_staff and not owner.is_superuser
    assert sorted(owner.groups.values_list("name", flat=True)) == ["Catalog", "Support"]
    assert owner.has_perm("catalog.add_product") and owner.has_perm("orders.view_order")
    assert not owner.has_module_perms("djstripe")
    assert User.objects.get(username="admin").is_superuser


def test_demo_logins_are_refused_without_shop_demo(settings):
    settings.SHOP_DEMO = False
    with pytest.raises(CommandError, match="SHOP_DEMO off"):
        call_command("ensure_demo_staff")
    assert not User.objects.exists()
