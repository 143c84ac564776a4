"""``manage.py load_demo_catalog``: create the demo products (idempotent)."""

from django.core.management.base import BaseCommand

from catalog.demo import load_demo_catalog


class Command(BaseCommand):
    help = "Create or update the demo catalog (idempotent: running it twice changes nothing)."

    def handle(self, *args, **options):
        created, updated = load_demo_catalog()
        self.stdout.write(
            f"Demo catalog ready: {created} products created, {updated} already there."
        )
