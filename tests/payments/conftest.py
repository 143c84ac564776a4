import pytest
import stripe

from tests.payments.stripe_api_fake import PUBLISHABLE_KEY, SECRET_KEY, FakeStripeAPI


@pytest.fixture
def real_stripe(settings, monkeypatch):
    """Switch the settings to real Stripe keys; dj-stripe's calls reach a ``FakeStripeAPI``."""

    def use(secret=SECRET_KEY, publishable=PUBLISHABLE_KEY, *, stripe_accepts=None):
        settings.STRIPE_LOCAL_STAND_IN = False
        settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = secret
        settings.STRIPE_PUBLISHABLE_KEY = settings.STRIPE_TEST_PUBLIC_KEY = publishable
        settings.STRIPE_API_BASE = ""
        settings.STRIPE_WEBHOOK_SECRET = ""
        fake = FakeStripeAPI(api_key=stripe_accepts or secret)
        # dj-stripe calls Stripe through the SDK's global client (stripe.WebhookEndpoint...).
        monkeypatch.setattr(stripe, "default_http_client", fake)
        monkeypatch.setattr(stripe, "api_base", "https://api.stripe.com")
        return fake

    return use
