"""The chaos run's virtual customers: checkouts through the front door, retried like a person would.

Product page, add to cart, checkout form, card created at "Stripe", pay, watch the pending
page; a page that fails is tried again on the other server, the same form posted again.
"""

import random
import threading
import time
from collections import Counter
from functools import partial

import requests

from bench.browser import open_checkout

CARDS = [("4242424242424242", 0.85), ("4000000000000341", 0.15)]  # ok / declined at charge


class Customers:
    """Virtual customers going through the front door; the load balancer is round-robin."""

    def __init__(
        self, web_bases: list[str], stripe_base: str, product, *, deadline: float, seed: int
    ):
        self.web_bases = web_bases
        self.stripe_base = stripe_base
        self.product = product
        self.deadline = deadline
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.latencies: list[float] = []
        self.cards: dict[str, str] = {}
        self.rr = 0

    def base(self) -> str:
        with self.lock:
            self.rr += 1
            return self.web_bases[self.rr % len(self.web_bases)]

    def note(self, what: str) -> None:
        with self.lock:
            self.outcomes[what] += 1

    def request(
        self, http: requests.Session, method: str, path: str, *, expect=(200, 302), **kwargs
    ):
        """One step, retried on a new server when the page fails (500, reset, timeout)."""
        for attempt in range(8):
            if time.monotonic() > self.deadline:
                raise TimeoutError("run deadline")
            try:
                response = http.request(
                    method, self.base() + path, timeout=30, allow_redirects=False, **kwargs
                )
                if response.status_code in expect:
                    return response
                self.note(f"http_{response.status_code}")
            except requests.RequestException:
                self.note("connection_error")
            time.sleep(0.3 * (attempt + 1))
        raise RuntimeError(f"{method} {path} kept failing")

    def checkout(self, index: int) -> str:
        with self.lock:
            card = self.random.choices([c for c, _ in CARDS], [w for _, w in CARDS])[0]
            self.cards[f"customer{index}@example.com"] = card
        with requests.Session() as http:
            try:
                form = open_checkout(
                    http, partial(self.request, http), self.product, quantity=1 + index % 2
                )
                if not form.get("checkout_token"):
                    raise ValueError("no checkout token on the checkout page")
                pm = requests.post(
                    f"{self.stripe_base}/v1/payment_methods",
                    timeout=30,
                    data={
                        "key": "pk_test_chaos",
                        "type": "card",
                        "card[number]": card,
                        "card[exp_month]": "12",
                        "card[exp_year]": "2034",
                        "card[cvc]": "123",
                    },
                ).json()["id"]
                form.update({"email": f"customer{index}@example.com", "payment_method_id": pm})
                started = time.monotonic()
                # The same form again after a failure: the shop must drive the same order.
                placed = self.request(http, "POST", "/checkout/", expect=(302,), data=form)
                location = placed.headers.get("Location", "")
                with self.lock:
                    self.latencies.append(time.monotonic() - started)
                if not location.startswith("/orders/"):
                    self.note("checkout_refused")
                    return "refused"
                for _ in range(20):  # a patient customer watches the pending page for ~10 s
                    status = self.request(http, "GET", location + "status/", expect=(200, 286))
                    if status.status_code == 286:
                        break
                    time.sleep(0.5)
                self.note("placed")
                return "placed"
            except (RuntimeError, TimeoutError, AttributeError, KeyError, ValueError) as exc:
                self.note(f"gave_up:{type(exc).__name__}")
                return "gave_up"
