"""``manage.py setup_stripe_webhook``: the shop's webhook endpoint at real Stripe, in one step."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from payments.stripe_setup import (
    WEBHOOK_EVENTS,
    SetupRefused,
    parse_origin,
    refuse_stand_in,
    secret_key_shape,
    setup_local_endpoint,
    setup_public_endpoint,
    stripe_listen_command,
)


class Command(BaseCommand):
    help = (
        "Real Stripe only. With --url: create (or update, or keep) the shop's webhook endpoint "
        "at Stripe for that address, subscribed to exactly the events the shop handles, and "
        "store it with its signing secret in dj-stripe's WebhookEndpoint row, where dj-stripe "
        "verifies webhooks (STRIPE_WEBHOOK_SECRET is not used). Run again, it changes nothing, "
        "or brings the endpoint back to those events, and deletes the shop's other endpoints at "
        "that address. With --local --secret: store an endpoint for events forwarded by "
        "`stripe listen` and print the exact `stripe listen` command. Runs the system checks, "
        "the database ones included, first. Exits 2 on bad arguments, 1 when the settings or "
        "Stripe refuse."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            help="The shop's public address as Stripe reaches it, e.g. https://shop.example/ "
            "(https in live mode). With --local: where `stripe listen` forwards to "
            "(default: SITE_URL).",
        )
        parser.add_argument(
            "--local",
            action="store_true",
            help="Local work with the Stripe CLI: nothing is created at Stripe (test mode only).",
        )
        parser.add_argument(
            "--secret",
            help="With --local: the CLI's signing secret, "
            '"$(stripe listen --api-key "$STRIPE_SECRET_KEY" --print-secret)".',
        )

    def get_check_kwargs(self, options):
        # Like migrate: the database checks too (the demo database reused with real keys).
        return {"databases": [DEFAULT_DB_ALIAS]}

    def handle(self, *args, url, local, secret, **options):
        try:
            refuse_stand_in(settings)
            shape = secret_key_shape(settings)
            if local:
                result = self._local(url, secret, live=shape.live)
            else:
                result = self._public(url, secret, live=shape.live)
        except SetupRefused as exc:
            raise CommandError(str(exc), returncode=2 if exc.usage else 1) from exc
        except DatabaseError as exc:
            raise CommandError(
                f"The database failed: {exc}. Nothing is lost: run the command again once it "
                "answers (an endpoint created at Stripe meanwhile is replaced)."
            ) from exc
        mode = "live" if result.endpoint.livemode else "test"
        where = "Stripe" if not local else "this database (fed by `stripe listen`)"
        self.stdout.write(
            f"Webhook endpoint {result.endpoint.id} {result.action} in {where}, {mode} mode."
        )
        for endpoint_id in result.deleted:
            self.stdout.write(f"Deleted the shop's other endpoint {endpoint_id} at Stripe.")
        for endpoint_id in result.forgotten:
            self.stdout.write(f"Forgot endpoint {endpoint_id}: Stripe no longer has it.")
        self.stdout.write(f"Stripe will post {', '.join(WEBHOOK_EVENTS)} to:")
        self.stdout.write(f"  {result.url}")
        self.stdout.write(
            "Its signing secret is in dj-stripe's WebhookEndpoint row; "
            "STRIPE_WEBHOOK_SECRET is not used."
        )
        if local:
            self.stdout.write("Forward the events with (keep it running beside the shop):")
            self.stdout.write(f"  {stripe_listen_command(result.url)}")

    def _public(self, url, secret, *, live):
        if secret:
            raise SetupRefused("--secret is for --local only.", usage=True)
        if not url:
            raise SetupRefused(
                "--url is required: the shop's public address, e.g. https://shop.example/ "
                "(or --local for `stripe listen`).",
                usage=True,
            )
        origin = parse_origin(url, live=live, local=False)
        return setup_public_endpoint(origin, api_key=settings.STRIPE_SECRET_KEY)

    def _local(self, url, secret, *, live):
        if live:
            raise SetupRefused(
                "--local is for test mode: STRIPE_SECRET_KEY is a live key. Live events go "
                "to a public https address: --url https://shop.example/.",
                usage=True,
            )
        if not secret or not secret.startswith("whsec_"):
            raise SetupRefused(
                "--local needs --secret with the Stripe CLI's signing secret (whsec_...): "
                '--secret "$(stripe listen --api-key "$STRIPE_SECRET_KEY" --print-secret)".',
                usage=True,
            )
        origin = parse_origin(url or settings.SITE_URL, live=False, local=True)
        return setup_local_endpoint(origin, secret=secret, api_key=settings.STRIPE_SECRET_KEY)
