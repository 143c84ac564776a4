"""Plain snapshots of Stripe objects, and Stripe's status vocabulary: nothing outside the
gateway compares a Stripe status string."""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

# PaymentIntent statuses from which ``cancel`` is allowed (nothing was or will be captured).
CANCELLABLE_STATUSES = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)
# PaymentIntent statuses reached only once a confirm reached the card: Stripe tried to charge.
CHARGE_ATTEMPTED_STATUSES = frozenset(
    {"requires_action", "processing", "requires_capture", "succeeded"}
)
# Refund statuses that hold money back from the customer's payment.
REFUND_COUNTED_STATUSES = frozenset({"succeeded", "pending"})


def _as_dict(data: Any) -> dict:
    # stripe 15's objects are not dicts.
    return data.to_dict() if hasattr(data, "to_dict") else data


def _id_of(value: Any) -> str:
    """The id of a field that is an id, or an expanded object, or missing."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


@dataclass(frozen=True)
class PaymentIntentSnapshot:
    id: str
    status: str
    amount: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)
    created: int = 0
    client_secret: str = ""
    # The most precise of Stripe's codes for the last error: the card issuer's
    # ``decline_code`` (``insufficient_funds``...) when there is one, else the error's ``code``.
    last_error_code: str = ""
    last_error_message: str = ""
    payment_method: str = ""
    receipt_email: str = ""
    # What Stripe has refunded of its charge, when the charge came with it (a list read with
    # ``expand[]=data.latest_charge``); None when unknown (the charge was only an id).
    refunded: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def canceled(self) -> bool:
        return self.status == "canceled"

    @property
    def requires_action(self) -> bool:
        """Waiting for the customer's 3-D Secure."""
        return self.status == "requires_action"

    @property
    def requires_confirmation(self) -> bool:
        """Created, never confirmed: no money can have moved through it."""
        return self.status == "requires_confirmation"

    @property
    def cancellable(self) -> bool:
        return self.status in CANCELLABLE_STATUSES

    @property
    def declined(self) -> bool:
        """Confirmed and refused: the customer must try again with another card."""
        return self.status == "requires_payment_method" and bool(
            self.last_error_code or self.last_error_message
        )

    @property
    def charge_attempted(self) -> bool:
        """Stripe tried to charge the payment method (a decline counts; a refused request not)."""
        return self.status in CHARGE_ATTEMPTED_STATUSES or self.declined

    @property
    def order_id(self) -> int | None:
        try:
            return int(self.metadata.get("order_id", ""))
        except ValueError:
            return None

    def as_declined(self, *, code: str, message: str) -> "PaymentIntentSnapshot":
        """This PaymentIntent as Stripe leaves it after declining a confirm."""
        return replace(
            self,
            status="requires_payment_method",
            last_error_code=code,
            last_error_message=message,
        )

    @classmethod
    def from_stripe(cls, data: Any) -> "PaymentIntentSnapshot":
        data = _as_dict(data)
        error = data.get("last_payment_error") or {}
        charge = data.get("latest_charge", "")
        if isinstance(charge, dict):
            refunded = int(charge.get("amount_refunded") or 0)
        else:
            refunded = 0 if charge is None else None  # no charge: nothing to refund
        return cls(
            id=data["id"],
            status=data["status"],
            amount=int(data["amount"]),
            currency=str(data["currency"]).lower(),
            metadata=dict(data.get("metadata") or {}),
            created=int(data.get("created") or 0),
            client_secret=data.get("client_secret") or "",
            last_error_code=error.get("decline_code") or error.get("code") or "",
            last_error_message=error.get("message") or "",
            payment_method=_id_of(data.get("payment_method")),
            receipt_email=data.get("receipt_email") or "",
            refunded=refunded,
        )


@dataclass(frozen=True)
class RefundSnapshot:
    id: str
    amount: int
    status: str
    payment_intent_id: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> bool:
        """Whether this refund holds money back from the payment (made or on its way)."""
        return self.status in REFUND_COUNTED_STATUSES

    @classmethod
    def from_stripe(cls, data: Any, payment_intent_id: str) -> "RefundSnapshot":
        data = _as_dict(data)
        return cls(
            id=data["id"],
            amount=int(data["amount"]),
            status=data.get("status") or "succeeded",
            payment_intent_id=data.get("payment_intent") or payment_intent_id,
            metadata=dict(data.get("metadata") or {}),
        )


def refunded_total(refunds: Iterable[RefundSnapshot]) -> int:
    """What Stripe has refunded (or is refunding) of a payment, from its refunds."""
    return sum(refund.amount for refund in refunds if refund.counts)


@dataclass(frozen=True)
class Shipping:
    """Where the goods go: Stripe's PaymentIntent ``shipping`` (name and address)."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2
    line2: str = ""

    def as_params(self) -> dict[str, Any]:
        address = {
            "line1": self.line1,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
        }
        if self.line2:
            address["line2"] = self.line2
        return {"name": self.name, "address": address}
