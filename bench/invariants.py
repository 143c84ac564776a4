"""Check the design's invariants I1-I6 from both sides: our database and Stripe's own lists.

Independent of ``payments.audit`` on purpose (the chaos run also runs that audit): it reads
every PaymentIntent and refund straight from the Stripe stand-in, every order, transition and
outbox row from the database, and every email the shop actually wrote to its mail folder.
Call ``check_all`` with Django configured for the run's database.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

SUBJECT_RE = re.compile(r"^Subject: Thank you for your order (ORD-[A-Z0-9]+)", re.MULTILINE)
MESSAGE_ID_RE = re.compile(r"^Message-ID: (<[^>]+>)", re.MULTILINE | re.IGNORECASE)


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def bad(self, invariant: str, message: str) -> None:
        self.violations.append(f"{invariant}: {message}")


def stripe_list(
    base: str, path: str, params: dict | None = None, *, max_items: int = 100_000
) -> list[dict]:
    items: list[dict] = []
    after = None
    with requests.Session() as http:
        while len(items) < max_items:
            query = {"limit": 100, **(params or {}), **({"starting_after": after} if after else {})}
            page = http.get(
                f"{base}{path}", params=query, auth=("sk_test_localstripe", ""), timeout=30
            )
            page.raise_for_status()
            body = page.json()
            items += body["data"]
            if not body.get("has_more") or not body["data"]:
                return items
            after = body["data"][-1]["id"]
    return items


def refunded_amount(base: str, pi_id: str) -> int:
    refunds = stripe_list(base, "/v1/refunds", {"payment_intent": pi_id})
    return sum(
        r["amount"] for r in refunds if r.get("status", "succeeded") in ("succeeded", "pending")
    )


def count_confirmation_emails(mail_dir: Path) -> tuple[Counter, int]:
    """Distinct confirmation emails per order reference, as the customer's mailbox sees them.

    A copy resent with the same Message-ID (a worker died after the send, before booking it)
    is one email to the customer; such copies are counted separately and reported.
    """
    ids_by_reference: dict[str, set[str]] = defaultdict(set)
    copies = 0
    if mail_dir.exists():
        for path in mail_dir.iterdir():
            for message in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
                subject = SUBJECT_RE.search(message)
                if not subject:
                    continue
                message_id = MESSAGE_ID_RE.search(message)
                key = message_id.group(1) if message_id else f"no-id-{copies}-{path.name}"
                if key in ids_by_reference[subject.group(1)]:
                    copies += 1
                ids_by_reference[subject.group(1)].add(key)
    return Counter({ref: len(ids) for ref, ids in ids_by_reference.items()}), copies


def check_all(
    *, stripe_base: str, tag: str, mail_dir: Path, stock_expected: dict[int, int]
) -> Findings:
    from catalog.models import Product
    from orders.models import (
        PENDING_STATUSES,
        TRANSITIONS,
        Order,
        OrderEvent,
        OrderStatus,
        OutboxMessage,
    )

    found = Findings()
    orders = {o.pk: o for o in Order.objects.prefetch_related("lines")}
    found.counts.update(o.status for o in orders.values())

    # --- From Stripe's side: every PaymentIntent carrying our tag --------------------------
    pis = [
        pi
        for pi in stripe_list(stripe_base, "/v1/payment_intents")
        if (pi.get("metadata") or {}).get("shop") == tag
    ]
    found.counts["payment_intents"] = len(pis)
    kept_by_order: dict[int, list[str]] = defaultdict(list)
    for pi in pis:
        found.counts[f"pi_{pi['status']}"] += 1
        try:
            order_id = int(pi["metadata"].get("order_id", ""))
        except ValueError:
            order_id = None
        if pi["status"] != "succeeded":
            continue
        left = pi["amount"] - refunded_amount(stripe_base, pi["id"])
        if left <= 0:
            found.counts["pi_refunded_in_full"] += 1
            continue
        kept_by_order[order_id].append(pi["id"])
        order = orders.get(order_id)
        if order is None:
            found.bad("I2", f"{pi['id']} kept {left} for order #{order_id} that does not exist")
        elif order.status != OrderStatus.PAID or order.payment_intent_id != pi["id"]:
            found.bad(
                "I2",
                f"{pi['id']} kept {left} {pi['currency']} but {order.reference} is {order.status} "
                f"(its payment intent: {order.payment_intent_id})",
            )
    for order_id, kept in kept_by_order.items():
        if len(kept) > 1:
            found.bad(
                "I1", f"order #{order_id} has {len(kept)} succeeded, unrefunded payments: {kept}"
            )

    # --- From our side: every order ----------------------------------------------------------
    pi_by_id = {pi["id"]: pi for pi in pis}
    for order in orders.values():
        if order.status in PENDING_STATUSES:
            found.bad("I4", f"{order.reference} still {order.status} after the settle time")
        if order.status == OrderStatus.PAID:
            pi = pi_by_id.get(order.payment_intent_id or "")
            if pi is None or pi["status"] != "succeeded":
                found.bad(
                    "I3",
                    f"{order.reference} is paid but its payment {order.payment_intent_id} is "
                    f"{pi['status'] if pi else 'missing at Stripe'}",
                )
            elif pi["amount"] != order.total_amount or pi["currency"] != order.currency:
                found.bad(
                    "I3",
                    f"{order.reference} paid {pi['amount']} {pi['currency']}, "
                    f"order is {order.total_amount} {order.currency}",
                )

    # --- I5: exactly one confirmation email per paid order, none for others ------------------
    emails, copies = count_confirmation_emails(mail_dir)
    found.counts["confirmation_emails"] = sum(emails.values())
    found.counts["confirmation_copies_same_message_id"] = copies
    outbox = Counter(
        OutboxMessage.objects.filter(
            kind=OutboxMessage.Kind.CONFIRMATION_EMAIL, discriminator=""
        ).values_list("order_id", flat=True)
    )
    for order in orders.values():
        paid = order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)
        sent = emails.get(order.reference, 0)
        if paid and sent != 1:
            found.bad(
                "I5", f"{order.reference} is {order.status} and got {sent} confirmation emails"
            )
        if not paid and sent:
            found.bad(
                "I5", f"{order.reference} is {order.status} and got {sent} confirmation emails"
            )
        if outbox.get(order.pk, 0) != (1 if paid else 0):
            found.bad(
                "I5",
                f"{order.reference} is {order.status} with {outbox.get(order.pk, 0)} "
                "confirmation outbox rows",
            )
    stuck = OutboxMessage.objects.exclude(state=OutboxMessage.State.SENT).count()
    if stuck:
        found.notes.append(f"{stuck} outbox messages not done")
        for message in OutboxMessage.objects.exclude(state=OutboxMessage.State.SENT).select_related(
            "order"
        )[:20]:
            found.bad(
                "outbox",
                f"{message.kind} for {message.order.reference} is {message.state}: "
                f"{message.last_error[:200]}",
            )

    # --- I6: the recorded history is a legal, monotonic path ending in the current state -----
    history: dict[int, list[tuple[str, str]]] = defaultdict(list)
    transitions = OrderEvent.objects.filter(kind=OrderEvent.Kind.TRANSITION).order_by("at", "pk")
    for order_id, from_status, to_status in transitions.values_list(
        "order_id", "from_status", "to_status"
    ):
        history[order_id].append((from_status, to_status))
    for order in orders.values():
        state = None
        for from_status, to_status in history.get(order.pk, []):
            if state is None and not from_status:
                state = to_status  # "order recorded"
                continue
            if from_status != state or to_status not in TRANSITIONS.get(from_status, ()):
                found.bad("I6", f"{order.reference}: {state} then {from_status} -> {to_status}")
            state = to_status
        if state is not None and state != order.status:
            found.bad("I6", f"{order.reference}: history ends in {state}, row says {order.status}")

    # --- Stock: every unit is either on the shelf or held by an order that keeps it ----------
    held: Counter = Counter()
    for order in orders.values():
        if not order.stock_released:
            for line in order.lines.all():
                held[line.product_id] += line.quantity - line.restocked_quantity
    for product in Product.objects.filter(pk__in=stock_expected):
        if product.stock + held[product.pk] != stock_expected[product.pk]:
            found.bad(
                "stock",
                f"{product.slug}: {product.stock} on the shelf + {held[product.pk]} held "
                f"!= {stock_expected[product.pk]}",
            )
    return found
