"""Step 1 of the checkout, and the whole attempt: record the order, then drive its payment.

``record_order`` commits the order in PAYMENT_STARTING with its lines, total, a server-made
idempotency key and its reserved stock, in one transaction, before Stripe is called.
``place_order`` is what the checkout page calls: record, then ``driver.drive_payment``.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, transaction

from catalog import stock
from catalog.models import Product
from orders import clock, lease, logcontext, policy, pricing
from orders.exceptions import CheckoutNotStarted, EmptyCart, OutOfStock, ShippingUnavailable
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.payment import driver
from orders.timeline import record_event
from stripe_gateway import budget

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class Delivery:
    """Where and how the goods go, as the customer chose (validated by the checkout form)."""

    full_name: str
    address_line1: str
    city: str
    postal_code: str
    country: str
    shipping_method_id: int
    address_line2: str = ""


def record_order(
    *,
    lines: Iterable[LineRequest],
    email: str,
    delivery: Delivery,
    payment_method_id: str,
    checkout_token: str,
    lease_token: str = "",
) -> Order:
    """Commit the order in PAYMENT_STARTING with its lines, total and reserved stock.

    With ``lease_token`` the order is committed already leased to its creator, who drives
    its payment next: no other driver takes it meanwhile, and no separate claim is needed.
    The total is the lines at database prices plus shipping to ``delivery`` at the rate the
    admin holds now (``pricing.quote``); ShippingUnavailable records nothing.
    """
    lines = sorted(lines, key=lambda line: line.product_id)
    if not lines:
        raise EmptyCart("Your cart is empty.")
    now = clock.now()
    with transaction.atomic():
        products = Product.objects.in_bulk([line.product_id for line in lines])
        currencies = {p.currency for p in products.values()}
        if len(products) != len(lines) or len(currencies) != 1:
            raise OutOfStock("Some products in your cart are no longer available.")
        currency = currencies.pop()
        goods = sum(products[line.product_id].price * line.quantity for line in lines)
        figures = pricing.quote(
            goods=goods,
            currency=currency,
            country=delivery.country,
            shipping_method_id=delivery.shipping_method_id,
        )
        total = figures.total
        order = Order.objects.create(
            checkout_token=checkout_token,
            email=email,
            full_name=delivery.full_name,
            address_line1=delivery.address_line1,
            address_line2=delivery.address_line2,
            city=delivery.city,
            postal_code=delivery.postal_code,
            country=delivery.country,
            shipping_method_name=figures.shipping_method_name,
            shipping_amount=figures.shipping,
            vat_rate=figures.vat_rate,
            vat_amount=figures.vat,
            total_amount=total,
            currency=currency,
            payment_method_id=payment_method_id,
            created_at=now,
            status_changed_at=now,
            next_attempt_at=now + policy.grace_period(),
            lease_token=lease_token,
            lease_until=now + policy.driver_lease() if lease_token else None,
        )
        for line in lines:
            product = products[line.product_id]
            if not stock.reserve(product, line.quantity):
                raise OutOfStock(f"Sorry, there is not enough {product.name} left in stock.")
            OrderLine.objects.create(
                order=order,
                product=product,
                product_name=product.name,
                unit_price=product.price,
                quantity=line.quantity,
            )
        record_event(
            order,
            kind=OrderEvent.Kind.TRANSITION,
            cause="checkout",
            message="Order recorded, stock reserved, payment starting.",
            to_status=OrderStatus.PAYMENT_STARTING,
            details={
                "total": total,
                "shipping": figures.shipping,
                "shipping_method": figures.shipping_method_name,
                "vat": figures.vat,
                "idempotency_key": order.idempotency_key,
            },
        )
    logcontext.note_order(order)
    logger.info(
        "order recorded",
        extra={"order_id": order.pk, "idempotency_key": order.idempotency_key},
    )
    return order


@budget.work_class(budget.CHECKOUT)  # the customer's Stripe calls come first
@logcontext.scope()  # every log line of this checkout carries its order
def place_order(
    *,
    lines: Iterable[LineRequest],
    email: str,
    delivery: Delivery,
    payment_method_id: str,
    checkout_token: str,
) -> Order:
    """Record the order, then drive its payment; a resubmitted form drives the same order.

    The checkout token is unique, so a resubmitted form (double click, reload, second tab)
    fails to record a second order, whatever its cart holds now, and drives the first.
    """
    lease_token = lease.new_token()
    try:
        order = record_order(
            lines=lines,
            email=email,
            delivery=delivery,
            payment_method_id=payment_method_id,
            checkout_token=checkout_token,
            lease_token=lease_token,
        )
    except (IntegrityError, EmptyCart, OutOfStock, ShippingUnavailable) as exc:
        existing = (
            Order.objects.filter(checkout_token=checkout_token).values_list("pk", flat=True).first()
        )
        if existing is not None:
            logger.info("checkout resubmitted", extra={"order_id": existing})
            return driver.drive_payment(existing, cause="checkout_retry")
        if isinstance(exc, IntegrityError):
            raise CheckoutNotStarted("We could not start your payment.") from exc
        raise
    except DatabaseError as exc:
        logger.warning("could not record order", extra={"checkout_token": checkout_token})
        raise CheckoutNotStarted("We could not start your payment.") from exc
    return driver.drive_payment(
        order.pk, cause="checkout", lease_token=lease_token, leased_order=order
    )
