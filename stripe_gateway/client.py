"""The stripe SDK client: one per thread and configuration, over an HTTP client tests can wrap."""

import threading

import stripe
from django.conf import settings


def build_http_client() -> stripe.HTTPClient:
    """Return the HTTP client under the SDK; tests wrap it to inject faults.

    Its ``requests`` session does not consult the environment on every call (proxy
    variables, ``.netrc``): that lookup cost ~0.4 ms of CPU per call, a third of the SDK's
    own. A proxy set in the environment is read once, here, and still used.
    """
    import requests

    session = requests.Session()
    session.trust_env = False
    proxies = requests.utils.get_environ_proxies(
        settings.STRIPE_API_BASE or "https://api.stripe.com"
    )
    return stripe.RequestsClient(
        timeout=settings.STRIPE_TIMEOUT_SECONDS, session=session, proxy=proxies or None
    )


_local = threading.local()


def client() -> stripe.StripeClient:
    """One client per thread and configuration, so its connection is reused.

    A new client per call opened a new connection, and with real Stripe a TLS handshake, for
    every call. Per thread, because a ``requests`` session is not thread-safe (the
    reconciler drives orders on several threads). The key includes ``build_http_client``
    so a test that swaps it gets its own.
    """
    key = (
        build_http_client,
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
    )
    if getattr(_local, "key", None) != key:
        base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
        # A settings change (tests) replaces the client: no stale one is left behind.
        _local.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses=base_addresses,
            http_client=build_http_client(),
            # Retries are ours to make (reconciler), with our keys and our backoff, and each
            # takes a token from the shared budget (``budget``): the SDK's own retries would
            # send requests the budget never counted. Keep it 0.
            max_network_retries=0,
        )
        _local.key = key
    return _local.client
