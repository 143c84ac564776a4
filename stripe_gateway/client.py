"""The stripe SDK client: one per thread and configuration, over an HTTP client tests can wrap.

And the SDK's *global* HTTP client, which the shop's own calls never use but dj-stripe's do
(``stripe.Account.retrieve(api_key=...)`` for the first event of a key, its event handlers'
reads, the webhook endpoint set-up): ``BudgetedHTTPClient`` makes each of those requests
take a token from the same shared budget first (``install_global_client``, at start-up).
"""

import json
import threading

import stripe
from django.conf import settings

from stripe_gateway import budget


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


class BudgetedHTTPClient(stripe.HTTPClient):
    """An HTTP client under the SDK whose every request takes a token from the budget first.

    For the calls the shop does not make itself (dj-stripe's): each attempt, the SDK's own
    retries included, is one request the budget counts, by the caller's work class (a
    webhook's, in the webhook view). No token in time raises ``TryLater`` before anything is
    sent (a webhook then answers 500 and Stripe delivers it again later). A 429 Stripe
    answers them cools the whole budget down, as one answered to the shop's own calls does.
    """

    name = "budgeted"

    def __init__(self, inner: stripe.HTTPClient):
        super().__init__()
        self.inner = inner

    def request(self, method, url, headers, post_data=None):
        budget.acquire()
        content, status, rheaders = self.inner.request(method, url, headers, post_data)
        if status == 429:
            budget.note_rate_limited(
                code=_error_code(content), retry_after=(rheaders or {}).get("retry-after", "")
            )
        return content, status, rheaders

    def close(self):
        self.inner.close()


def _error_code(content) -> str:
    try:
        return str(json.loads(content)["error"].get("code") or "")
    except (TypeError, ValueError, KeyError, AttributeError):
        return ""


def install_global_client() -> None:
    """Put the budget under the SDK's global client (the one dj-stripe calls Stripe with).

    The inner client keeps a ``requests`` session per thread (none is shared across threads).
    """
    stripe.default_http_client = BudgetedHTTPClient(
        stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS)
    )
