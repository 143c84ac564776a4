"""Test helpers around the localstripe stand-in: start it, talk to it, break the wire to it."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import stripe
from requests.structures import CaseInsensitiveDict

from devtools.stripe_semantics import StripeRequest, StripeResponse, StripeSemantics

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn:
    """A running localstripe process, plus direct (test-only) access to its API."""

    def __init__(self, port: int):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.localstripe_server",
                "--port",
                str(self.port),
                "--memory",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("localstripe did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)

    def flush(self) -> None:
        requests.delete(f"{self.base}/_config/data", timeout=5).raise_for_status()

    def disconnect_webhooks(self, endpoint_id: str) -> None:
        """Stop the stand-in posting events (it has no delete: register for no event types)."""
        requests.post(
            f"{self.base}/_config/webhooks/{endpoint_id}",
            json={"url": "http://127.0.0.1:9/", "secret": "whsec_off", "events": []},
            timeout=5,
        ).raise_for_status()

    def _auth(self):
        return ("sk_test_localstripe", "")

    def payment_method(self, number: str = "4242424242424242") -> str:
        response = requests.post(
            f"{self.base}/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
            auth=self._auth(),
            timeout=5,
        )
        response.raise_for_status()
        return response.json()["id"]

    def payment_intents(self) -> list[dict]:
        items, after = [], None
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            page = requests.get(
                f"{self.base}/v1/payment_intents", params=params, auth=self._auth(), timeout=5
            ).json()
            items += page["data"]
            if not page["has_more"]:
                return items
            after = page["data"][-1]["id"]

    def payment_intent(self, pi_id: str) -> dict:
        return requests.get(
            f"{self.base}/v1/payment_intents/{pi_id}", auth=self._auth(), timeout=5
        ).json()

    def refunds(self, pi_id: str) -> list[dict]:
        response = requests.get(
            f"{self.base}/v1/refunds",
            params={"payment_intent": pi_id},
            auth=self._auth(),
            timeout=5,
        )
        return response.json().get("data", [])

    def authenticate(self, pi_id: str, *, success: bool) -> dict:
        """Complete (or fail) 3-D Secure the way Stripe.js does in the browser."""
        pi = self.payment_intent(pi_id)
        response = requests.post(
            f"{self.base}/v1/payment_intents/{pi_id}/_authenticate",
            params={"success": "true" if success else "false"},
            json={"key": "pk_test_localstripe", "client_secret": pi["client_secret"]},
            timeout=5,
        )
        return response.json()

    def confirm(self, pi_id: str) -> dict:
        return requests.post(
            f"{self.base}/v1/payment_intents/{pi_id}/confirm", auth=self._auth(), timeout=5
        ).json()

    def cancel(self, pi_id: str) -> dict:
        return requests.post(
            f"{self.base}/v1/payment_intents/{pi_id}/cancel", auth=self._auth(), timeout=5
        ).json()

    def create_payment_intent(self, **params) -> dict:
        data = {}
        for key, value in params.items():
            if isinstance(value, dict):
                data.update({f"{key}[{k}]": v for k, v in value.items()})
            else:
                data[key] = value
        return requests.post(
            f"{self.base}/v1/payment_intents", data=data, auth=self._auth(), timeout=5
        ).json()

    def refund(self, pi_id: str, amount: int) -> dict:
        return requests.post(
            f"{self.base}/v1/refunds",
            data={"payment_intent": pi_id, "amount": amount},
            auth=self._auth(),
            timeout=5,
        ).json()


def semantics_enabled() -> bool:
    """``STRIPE_SEMANTICS=off``: the suite against localstripe alone (to show what it misses)."""
    return os.environ.get("STRIPE_SEMANTICS", "on").lower() not in ("off", "0", "false", "no")


class StripeHTTPClient(stripe.RequestsClient):
    """The SDK's own HTTP client, every request passed through Stripe's semantics.

    ``devtools.stripe_semantics`` sits where Stripe's API front end would: in front of the
    stand-in, behind the wire. So a reply lost on the wire (``FaultyHTTPClient``) was still
    saved under its key, and the retry gets it replayed, as with Stripe.
    """

    def __init__(self, semantics: StripeSemantics, **kwargs):
        super().__init__(**kwargs)
        self.semantics = semantics

    def request(self, method, url, headers, post_data=None):
        parts = urlsplit(url)
        body = post_data or b""
        stripe_request = StripeRequest(
            method=method.upper(),
            path=parts.path,
            headers=dict(headers or {}),
            body=body.encode() if isinstance(body, str) else body,
            query=parts.query,
        )

        def forward() -> StripeResponse:
            content, status, rheaders = super(StripeHTTPClient, self).request(
                method, url, headers, post_data
            )
            return StripeResponse(status, dict(rheaders), content)

        answer = self.semantics.handle(stripe_request, forward)
        return answer.body, answer.status, CaseInsensitiveDict(answer.headers)


class SlowStripe(StripeHTTPClient):
    """Stripe answering each request ``seconds`` later on a test clock (nothing sleeps):
    what a time-boxed sweep sees when Stripe is slow."""

    def __init__(self, semantics: StripeSemantics, clock, seconds: float, **kwargs):
        super().__init__(semantics, **kwargs)
        self.clock, self.seconds = clock, seconds

    def request(self, method, url, headers, post_data=None):
        self.clock.advance(seconds=self.seconds)
        return super().request(method, url, headers, post_data)


class Fault:
    """One planned fault on the wire between the stripe SDK and Stripe.

    mode: "lost_request" (never reaches Stripe), "lost_response" (Stripe acts, the reply is
    lost), "timeout" (the request hangs until the client gives up, never reaching Stripe),
    "http_500" (a 500 from the wire without Stripe acting), "http_500_after" (acts, then a 500
    from the wire). These are on the wire, in front of Stripe's idempotency layer: nothing is
    saved under the key for them (Stripe's own saved 500s are planned with ``stripe_says``).
    """

    def __init__(self, mode: str, *, method: str = "POST", path: str = "", times: int = 1):
        self.mode = mode
        self.method = method
        self.path = path
        self.times = times
        self.hits = 0

    def matches(self, method: str, url: str) -> bool:
        return self.hits < self.times and method.upper() == self.method and self.path in url


class FaultyHTTPClient(StripeHTTPClient):
    """The SDK's own HTTP client, with faults injected on the wire under it."""

    def __init__(self, faults: list[Fault], log: list, semantics: StripeSemantics, **kwargs):
        super().__init__(semantics, **kwargs)
        self.faults = faults
        self.log = log

    def request(self, method, url, headers, post_data=None):
        fault = next((f for f in self.faults if f.matches(method, url)), None)
        self.log.append((method.upper(), url, fault.mode if fault else None))
        if fault is None:
            return super().request(method, url, headers, post_data)
        fault.hits += 1
        if fault.mode == "lost_request":
            raise stripe.APIConnectionError("connection reset before the request was sent")
        if fault.mode == "timeout":
            raise stripe.APIConnectionError("Request timed out")
        if fault.mode == "http_500":
            return (b'{"error": {"type": "api_error", "message": "injected 500"}}', 500, {})
        result = super().request(method, url, headers, post_data)
        if fault.mode == "lost_response":
            raise stripe.APIConnectionError("Request timed out (reply lost)")
        if fault.mode == "http_500_after":
            return (b'{"error": {"type": "api_error", "message": "injected 500"}}', 500, {})
        return result
