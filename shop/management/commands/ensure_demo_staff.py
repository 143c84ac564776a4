"""``manage.py ensure_demo_staff``: the demo's staff logins (SHOP_DEMO only)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Demo only (SHOP_DEMO on): create the 'admin', 'support' and 'owner' logins if missing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", default="demo-password", help="Password for new demo users."
        )

    def handle(self, *args, password, **options):
        if not settings.SHOP_DEMO:
            raise CommandError("Refusing to create demo logins with SHOP_DEMO off.", returncode=2)
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@shop.invalid", password)
            self.stdout.write(f"Created superuser admin / {password}")
        if not User.objects.filter(username="support").exists():
            user = User.objects.create_user(
                "support", "support@shop.invalid", password, is_staff=True
            )
            group = Group.objects.filter(name="Support").first()
            if group:
                user.groups.add(group)
            self.stdout.write(f"Created support user support / {password}")
        if not User.objects.filter(username="owner").exists():
            # The shop owner's day-to-day login: the catalog and the orders, not a superuser
            # (so dj-stripe's Stripe mirror stays out of sight).
            user = User.objects.create_user("owner", "owner@shop.invalid", password, is_staff=True)
            user.groups.add(*Group.objects.filter(name__in=["Catalog", "Support"]))
            self.stdout.write(f"Created shop owner owner / {password}")
