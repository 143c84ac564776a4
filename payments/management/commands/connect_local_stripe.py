"""``manage.py connect_local_stripe``: wire dj-stripe and the shop to the local stand-in."""

from django.conf import settings
from django.core.management.base import BaseCommand

from payments.cli import EXIT_CODES_HELP, attention, usage_error
from payments.stand_in import register_local_webhook


class Command(BaseCommand):
    help = (
        "Demo and tests only: seed dj-stripe's Account/APIKey rows for the local Stripe "
        "stand-in and register the shop's webhook endpoint with it. " + EXIT_CODES_HELP
    )

    def add_arguments(self, parser):
        parser.add_argument("--site-url", default=settings.SITE_URL, help="Where the shop listens.")

    def handle(self, *args, site_url, **options):
        if not settings.STRIPE_LOCAL_STAND_IN:
            raise usage_error(
                "Stripe keys are set: this command is for the local stand-in only. For real "
                "Stripe: `manage.py setup_stripe_webhook`."
            )
        try:
            url = register_local_webhook(site_url=site_url, api_base=settings.STRIPE_API_BASE)
        except OSError as exc:
            raise attention(
                f"Stripe stand-in not reachable at {settings.STRIPE_API_BASE}: {exc}"
            ) from exc
        self.stdout.write(f"Stand-in webhooks go to {url}")
