"""The order core's tables: orders, their lines, timeline, outbox and unmatched Stripe events.

The state machine is data here (``OrderStatus``, ``TRANSITIONS``); ``orders.state`` performs it.
"""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django_countries.fields import CountryField

from stripe_gateway import keys


def _public_token() -> str:
    return secrets.token_urlsafe(24)


def _reference() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "ORD-" + "".join(secrets.choice(alphabet) for _ in range(8))


def _idempotency_key() -> str:
    return f"order-{uuid.uuid4()}"


class OrderStatus(models.TextChoices):
    PAYMENT_STARTING = "payment_starting", "Payment starting"
    REQUIRES_ACTION = "requires_action", "Waiting for card authentication"
    PAID = "paid", "Paid"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    CANCELED = "canceled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


PENDING_STATUSES = frozenset({OrderStatus.PAYMENT_STARTING, OrderStatus.REQUIRES_ACTION})

# The state machine, as data: every allowed move. Terminal states have no way out,
# except that a paid order can be refunded (invariant I6).
TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PAYMENT_STARTING: frozenset(
        {
            OrderStatus.REQUIRES_ACTION,
            OrderStatus.PAID,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.CANCELED,
        }
    ),
    OrderStatus.REQUIRES_ACTION: frozenset(
        {OrderStatus.PAID, OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELED}
    ),
    OrderStatus.PAID: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.PAYMENT_FAILED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}

# States in which an order that was never paid ends: entering one releases its stock. A
# refund (paid -> refunded) does not: the goods may be with the customer, so they go back to
# stock only when staff say they came back (``orders.fulfilment.restock_order``, I7).
STOCK_RELEASING_STATUSES = frozenset({OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELED})


class FulfilmentStatus(models.TextChoices):
    """Where the goods of a paid order are; separate from the payment's state machine."""

    UNFULFILLED = "unfulfilled", "Not shipped yet"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"


# The goods' own small state machine, as data; ``orders.fulfilment`` performs it.
FULFILMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    FulfilmentStatus.UNFULFILLED: frozenset({FulfilmentStatus.SHIPPED}),
    FulfilmentStatus.SHIPPED: frozenset({FulfilmentStatus.DELIVERED}),
    FulfilmentStatus.DELIVERED: frozenset(),
}


class Order(models.Model):
    """One checkout attempt and everything it promised."""

    reference = models.CharField(max_length=16, unique=True, default=_reference, editable=False)
    public_token = models.CharField(
        max_length=64, unique=True, default=_public_token, editable=False
    )
    checkout_token = models.CharField(
        max_length=64,
        unique=True,
        editable=False,
        help_text="The one-time token of the checkout form that created this order.",
    )
    idempotency_key = models.CharField(
        max_length=64, unique=True, default=_idempotency_key, editable=False
    )
    email = models.EmailField()
    status = models.CharField(
        max_length=32,
        choices=OrderStatus.choices,
        default=OrderStatus.PAYMENT_STARTING,
        editable=False,
        db_index=True,
    )
    total_amount = models.PositiveIntegerField(editable=False)
    currency = models.CharField(max_length=3, editable=False)
    payment_method_id = models.CharField(max_length=255, editable=False)
    payment_intent_id = models.CharField(
        max_length=255, null=True, blank=True, unique=True, editable=False
    )
    refunded_amount = models.PositiveIntegerField(default=0, editable=False)
    status_reason = models.CharField(max_length=255, blank=True, editable=False)
    stock_released = models.BooleanField(default=False, editable=False)
    # Stripe attempted a charge for this order (a confirm reached the card, declined or not).
    # Only then may a "payment failed" or "cancelled" email go out: an address typed into a
    # checkout whose card Stripe never tried (a made-up PaymentMethod) gets no mail from us.
    charge_attempted = models.BooleanField(default=False, editable=False)

    # Fulfilment: written only by ``orders.fulfilment`` under the order's row lock. Database
    # defaults too, so rows inserted by raw SQL (bench/) need not name these columns.
    fulfilment_status = models.CharField(
        max_length=16,
        choices=FulfilmentStatus.choices,
        default=FulfilmentStatus.UNFULFILLED,
        db_default=FulfilmentStatus.UNFULFILLED,
        editable=False,
    )
    carrier = models.CharField(max_length=64, blank=True, default="", db_default="", editable=False)
    tracking_reference = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )
    shipped_at = models.DateTimeField(null=True, blank=True, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(editable=False, db_index=True)
    status_changed_at = models.DateTimeField(editable=False)

    # Convergence bookkeeping: who may drive the payment now, and when to try again.
    attempts = models.PositiveIntegerField(default=0, editable=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    # Bumped when Stripe answered one of the order's idempotency keys with a server error it
    # will replay forever: the next create, confirm or cancel goes out under a new key.
    key_round = models.PositiveSmallIntegerField(default=0, editable=False)

    # Delivery, as the customer gave it and as priced when the order was recorded. ``db_default``
    # keeps rows inserted by older code or raw SQL (the benchmarks) valid.
    full_name = models.CharField(max_length=200, default="", db_default="", editable=False)
    address_line1 = models.CharField(max_length=200, default="", db_default="", editable=False)
    address_line2 = models.CharField(max_length=200, default="", db_default="", editable=False)
    city = models.CharField(max_length=100, default="", db_default="", editable=False)
    postal_code = models.CharField(max_length=20, default="", db_default="", editable=False)
    country = CountryField(blank=True, default="", db_default="", editable=False)
    shipping_method_name = models.CharField(
        max_length=100, default="", db_default="", editable=False
    )
    shipping_amount = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # Prices are VAT-inclusive: the VAT is the part of ``total_amount`` at ``vat_rate``.
    vat_rate = models.DecimalField(
        max_digits=5, decimal_places=4, default=0, db_default=0, editable=False
    )
    vat_amount = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # Stripe's decline code of a failed payment (``insufficient_funds``...), for the customer's
    # wording; Stripe's own sentence stays in ``status_reason`` and the timeline, for staff.
    decline_code = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="order_pending_due_idx",
                condition=models.Q(status__in=["payment_starting", "requires_action"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(refunded_amount__lte=models.F("total_amount")),
                name="order_refund_not_above_total",
            ),
        ]
        # The support actions of the admin (orders.support); granted to the Support group.
        permissions = [
            ("reconcile_order", "Can reconcile an order with Stripe now"),
            ("cancel_order", "Can cancel and unwind an unpaid order"),
            ("refund_order", "Can refund a paid order"),
            ("resend_confirmation", "Can resend an order's confirmation email"),
            ("ship_order", "Can mark a paid order shipped or delivered"),
            ("restock_order", "Can put a paid order's goods back in stock"),
        ]

    def __str__(self):
        return self.reference

    def get_absolute_url(self):
        return reverse("orders:detail", args=[self.public_token])

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def is_final(self) -> bool:
        return not self.is_pending

    @property
    def goods_amount(self) -> int:
        """The lines' total, without shipping (minor units)."""
        return self.total_amount - self.shipping_amount

    @property
    def vat_rate_percent(self) -> str:
        """The VAT rate as a percentage for display: Decimal("0.2100") -> "21"."""
        return f"{(self.vat_rate * 100).normalize():f}"

    @property
    def refund_left(self) -> int:
        """What of the payment the customer still has paid, after refunds (minor units)."""
        return self.total_amount - self.refunded_amount


class OrderLine(models.Model):
    """One product of an order, with its name and price as they were when it was placed."""

    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT)
    product_name = models.CharField(max_length=200)
    unit_price = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()
    # Units of a paid order's line put back in stock by staff (the goods came back): never
    # more than were sold, so a retried or concurrent restock adds nothing twice.
    restocked_quantity = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(restocked_quantity__lte=models.F("quantity")),
                name="orderline_restock_not_above_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.product_name}"

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


class OrderEvent(models.Model):
    """One entry in an order's timeline: a transition, a Stripe call, a webhook, a staff action."""

    class Kind(models.TextChoices):
        TRANSITION = "transition", "State change"
        STRIPE = "stripe", "Stripe call"
        WEBHOOK = "webhook", "Webhook"
        RECONCILE = "reconcile", "Reconciler"
        OUTBOX = "outbox", "Outbox"
        STAFF = "staff", "Staff action"
        NOTE = "note", "Note"

    order = models.ForeignKey(Order, related_name="events", on_delete=models.CASCADE)
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    cause = models.CharField(max_length=64)
    message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.cause}"


class OutboxMessage(models.Model):
    """A side effect promised by a committed state change, dispatched after the commit."""

    class Kind(models.TextChoices):
        CONFIRMATION_EMAIL = "confirmation_email", "Order confirmation email"
        PAYMENT_FAILED_EMAIL = "payment_failed_email", "Payment failed email"
        CANCELED_EMAIL = "canceled_email", "Order cancelled email"
        REFUNDED_EMAIL = "refunded_email", "Refund email"
        SHIPPED_EMAIL = "shipped_email", "Shipped email"
        REFUND = "refund", "Refund at Stripe"
        CANCEL_PAYMENT_INTENT = "cancel_payment_intent", "Cancel PaymentIntent at Stripe"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Done"
        FAILED = "failed", "Failed (gave up)"
        # Staff settled a failed message outside the shop (orders.support.refunds).
        RESOLVED = "resolved", "Resolved outside the shop"

    order = models.ForeignKey(Order, related_name="outbox", on_delete=models.CASCADE)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # Uniqueness: one message per (order, kind, discriminator). Emails use "", refunds a serial.
    discriminator = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # As ``Order.key_round``: the next attempt at Stripe goes out under a new key.
    key_round = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind", "discriminator"], name="outbox_one_per_order_kind"
            ),
        ]

    def __str__(self):
        return f"{self.kind} for {self.order_id} ({self.state})"

    @property
    def idempotency_key(self) -> str:
        return keys.outbox_key(
            self.order.idempotency_key, self.kind, self.discriminator, self.key_round
        )


class UnmatchedPaymentEvent(models.Model):
    """A Stripe event or PaymentIntent that names no order we know: kept for staff, not a crash.

    Support resolves it (``orders.support.unmatched``): attached to the order it belongs to,
    or dismissed with a reason; who, when and why are kept on the row.
    """

    class Resolution(models.TextChoices):
        ATTACHED = "attached", "Attached to an order"
        DISMISSED = "dismissed", "Dismissed"

    received_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=32)
    stripe_id = models.CharField(max_length=255, db_index=True)
    event_type = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    resolved = models.BooleanField(default=False)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution_reason = models.TextField(blank=True)
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attached_stripe_events",
        help_text="The order support attached this event to.",
    )

    class Meta:
        ordering = ["-received_at"]
        permissions = [
            (
                "resolve_unmatchedpaymentevent",
                "Can attach an unmatched Stripe event to an order or dismiss it",
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.stripe_id}"

    @property
    def payment_intent_id(self) -> str:
        """The PaymentIntent the event is about ("" if it names none)."""
        candidates = (self.details.get("object_id"), self.stripe_id)
        return next((c for c in candidates if isinstance(c, str) and c.startswith("pi_")), "")


class ShippingZone(models.Model):
    """Countries the shop ships to at the same rates."""

    name = models.CharField(max_length=100, unique=True)
    countries = CountryField(multiple=True, help_text="The countries this zone's rates cover.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def country_codes(self) -> list[str]:
        return [country.code for country in self.countries]


class ShippingMethod(models.Model):
    """One way of delivering to a zone, at a VAT-inclusive price; maybe free above an amount."""

    zone = models.ForeignKey(ShippingZone, related_name="methods", on_delete=models.CASCADE)
    name = models.CharField(max_length=100, help_text="Shown to the customer, e.g. 'Standard'.")
    price = models.PositiveIntegerField(help_text="VAT-inclusive price in minor units (cents).")
    currency = models.CharField(max_length=3, default="eur")
    free_over = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Free when the goods total (minor units) is at least this; empty: never free.",
    )
    delivery_estimate = models.CharField(
        max_length=100, blank=True, help_text="Shown beside the price, e.g. '2-4 working days'."
    )
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["zone__name", "position", "price", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["zone", "name"], name="shipping_method_unique_name"),
        ]

    def __str__(self):
        return f"{self.name} ({self.zone})"

    def price_for(self, goods_amount: int) -> int:
        """The price of this method for goods worth ``goods_amount`` (minor units)."""
        if self.free_over is not None and goods_amount >= self.free_over:
            return 0
        return self.price


class VatRate(models.Model):
    """The VAT rate of one destination country; prices include it. One rate per country."""

    country = CountryField(unique=True)
    rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        help_text="As a fraction: 0.2100 for 21 %.",
    )

    class Meta:
        ordering = ["country"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate__gte=0) & models.Q(rate__lt=1),
                name="vat_rate_fraction",
                violation_error_message="A VAT rate is a fraction below 1: 0.21 for 21 percent.",
            ),
        ]

    def __str__(self):
        return f"{self.country.name}: {self.rate * 100:.2f} %"
