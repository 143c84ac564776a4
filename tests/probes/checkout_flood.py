"""Probe: a card tester floods the checkout from one address while a customer buys normally.

The tester posts ``--attempts`` checkouts (default 100) as fast as the shop answers, each
with a made-up PaymentMethod and another victim's email, from one client address; a
customer buys ``--purchases`` times from another address during the flood, with a real
test card created at the Stripe stand-in. It prints, per client, how many checkouts the
shop accepted and how many it refused with 429, and how many of the customer's were paid.
Exit status 0 when the limit engaged for the tester and every purchase of the customer
went through, 1 otherwise.

The two clients are told apart by their source address (127.0.0.2 and 127.0.0.3: any
127.x address reaches a server on 127.0.0.1 under Linux), so the shop needs no proxy
header configured. Against the demo (``scripts/run``, its stand-in on port 8420):

    .venv/bin/python tests/probes/checkout_flood.py --shop http://127.0.0.1:8000 \\
        --stripe http://127.0.0.1:8420

``tests/probes/test_checkout_flood.py`` runs it against pytest-django's live server.
"""

import argparse
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

TEST_CARD = "4242424242424242"


class FromAddress(HTTPAdapter):
    """Connect from a given local address, so the shop sees that as REMOTE_ADDR."""

    def __init__(self, address: str, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not found:
        raise RuntimeError(f"no {name} on the page")
    return found.group(1)


def _delivery(page: str) -> dict:
    """A delivery the page offers: its first shipping method, to the first country it serves."""
    found = re.search(
        r'data-countries="([^"]*)"[^>]*>\s*<input type="radio" name="shipping_method"[^>]*'
        r'value="(\d+)"',
        page,
    )
    if not found:
        raise RuntimeError("no shipping method on the checkout page")
    country = re.search(r"[A-Z]{2}", found.group(1))
    if not country:
        raise RuntimeError("the shipping method names no country")
    return {
        "full_name": "Probe Customer",
        "address_line1": "Keizersgracht 1",
        "postal_code": "1015 CJ",
        "city": "Amsterdam",
        "country": country.group(0),
        "shipping_method": found.group(2),
    }


@dataclass
class Tally:
    name: str
    address: str
    attempts: int = 0
    accepted: int = 0
    limited: int = 0
    paid: int = 0
    retry_after: list[int] = field(default_factory=list)
    first_limited_at: int | None = None

    def count(self, response: requests.Response) -> None:
        self.attempts += 1
        if response.status_code == 429:
            self.limited += 1
            self.retry_after.append(int(response.headers.get("Retry-After", "0")))
            if self.first_limited_at is None:
                self.first_limited_at = self.attempts
        else:
            self.accepted += 1


class Shopper:
    """One browser-like client of the shop: a session, a cart, the checkout form."""

    def __init__(self, shop: str, address: str, timeout: float = 30.0):
        self.shop = shop.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = FromAddress(address)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.product_id = ""

    def _get(self, path: str) -> requests.Response:
        return self.session.get(self.shop + path, allow_redirects=False, timeout=self.timeout)

    def _post(self, path: str, data: dict) -> requests.Response:
        data = {**data, "csrfmiddlewaretoken": self.session.cookies.get("csrftoken", "")}
        return self.session.post(
            self.shop + path,
            data=data,
            allow_redirects=False,
            timeout=self.timeout,
            headers={"Referer": self.shop + "/checkout/"},
        )

    def open_checkout(self) -> dict:
        """The checkout form's hidden fields, putting a product in the cart first if needed."""
        page = self._get("/checkout/")
        if page.status_code == 302:  # empty cart
            if not self.product_id:
                self.product_id = _field(self._get("/").text, "product_id")
            self._post("/cart/add/", {"product_id": self.product_id, "quantity": "1"})
            page = self._get("/checkout/")
        page.raise_for_status()
        return {
            "checkout_token": _field(page.text, "checkout_token"),
            "cart_signature": _field(page.text, "cart_signature"),
            **_delivery(page.text),
        }

    def checkout(self, *, email: str, payment_method_id: str) -> requests.Response:
        form = self.open_checkout()
        return self._post(
            "/checkout/", {**form, "email": email, "payment_method_id": payment_method_id}
        )

    def is_paid(self, response: requests.Response) -> bool:
        if response.status_code != 302 or "/orders/" not in response.headers.get("Location", ""):
            return False
        page = self.session.get(
            urljoin(self.shop + "/", response.headers["Location"]), timeout=self.timeout
        )
        return "Thank you" in page.text


def real_payment_method(stripe: str, key: str) -> str:
    """A PaymentMethod for the test card, created at the Stripe stand-in as Stripe.js would."""
    response = requests.post(
        f"{stripe.rstrip('/')}/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": TEST_CARD,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
        auth=(key, ""),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["id"]


@dataclass
class ProbeResult:
    tester: Tally
    customer: Tally
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            self.tester.limited > 0
            and self.customer.accepted == self.customer.attempts
            and self.customer.paid == self.customer.attempts
        )

    def report(self) -> str:
        rows = [
            f"{'client':<24}{'attempts':>9}{'accepted':>9}{'limited':>9}{'paid':>6}",
        ]
        for tally in (self.tester, self.customer):
            paid = str(tally.paid) if tally is self.customer else "-"
            rows.append(
                f"{tally.name + ' ' + tally.address:<24}{tally.attempts:>9}{tally.accepted:>9}"
                f"{tally.limited:>9}{paid:>6}"
            )
        waits = self.tester.retry_after
        rows.append(
            f"{self.tester.attempts} tester checkouts in {self.seconds:.1f} s; first 429 at "
            f"attempt {self.tester.first_limited_at}; Retry-After "
            + (f"{min(waits)}-{max(waits)} s" if waits else "never sent")
        )
        rows.append("limit engaged, customer unaffected" if self.ok else "PROBE FAILED")
        return "\n".join(rows)


def run_probe(
    *,
    shop: str,
    stripe: str,
    stripe_key: str = "sk_test_localstripe",
    attempts: int = 100,
    purchases: int = 3,
    tester_address: str = "127.0.0.2",
    customer_address: str = "127.0.0.3",
) -> ProbeResult:
    tester = Tally("card tester", tester_address)
    customer = Tally("customer", customer_address)
    tester_client = Shopper(shop, tester_address)
    customer_client = Shopper(shop, customer_address)
    # The customer buys at evenly spaced points of the flood.
    marks = [threading.Event() for _ in range(purchases)]
    due = [max(1, (i + 1) * attempts // (purchases + 1)) for i in range(purchases)]

    failures: list[BaseException] = []

    def customer_buys():
        try:
            for mark in marks:
                mark.wait(120)
                response = customer_client.checkout(
                    email="customer@example.com",
                    payment_method_id=real_payment_method(stripe, stripe_key),
                )
                customer.count(response)
                customer.paid += customer_client.is_paid(response)
        except (requests.RequestException, RuntimeError) as exc:
            failures.append(exc)  # raised in the caller's thread below

    buyer = threading.Thread(target=customer_buys)
    buyer.start()
    started = time.monotonic()
    try:
        for n in range(1, attempts + 1):
            response = tester_client.checkout(
                email=f"victim{n:03d}@example.com", payment_method_id=f"pm_cardtest{n:05d}"
            )
            tester.count(response)
            for mark, at in zip(marks, due, strict=True):
                if n == at:
                    mark.set()
    finally:
        for mark in marks:
            mark.set()
        elapsed = time.monotonic() - started
        buyer.join(120)
    if failures:
        raise failures[0]
    return ProbeResult(tester, customer, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shop", default="http://127.0.0.1:8000", help="the shop's base URL")
    parser.add_argument("--stripe", default="http://127.0.0.1:8420", help="the Stripe stand-in")
    parser.add_argument("--stripe-key", default="sk_test_localstripe")
    parser.add_argument("--attempts", type=int, default=100)
    parser.add_argument("--purchases", type=int, default=3)
    args = parser.parse_args(argv)
    if args.attempts < 1 or args.purchases < 1:
        parser.error("--attempts and --purchases must be at least 1")
    result = run_probe(
        shop=args.shop,
        stripe=args.stripe,
        stripe_key=args.stripe_key,
        attempts=args.attempts,
        purchases=args.purchases,
    )
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
