"""The invariant checker (tests/invariants.py) itself: it fails on a broken state, not only on none.

Each test builds a state that breaks one invariant, behind the shop's back, and expects the
check to name it. A checker that never fails would let every test that relies on it pass.
"""

import pytest
from django.conf import settings
from django.core import mail

from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.state import transition_order
from orders.timeline import record_event
from tests.conftest import CARD_3DS
from tests.invariants import (
    StripeView,
    assert_converged,
    assert_invariants,
    check_converged,
    check_safe,
    check_settled,
)

pytestmark = pytest.mark.django_db(transaction=True)

PI_READ = "/v1/payment_intents/"


def test_a_clean_paid_order_passes_every_strength(checkout, stripe_api, make_product):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)
    assert order.status == OrderStatus.PAID
    view = StripeView.read(stripe_api)
    check_safe(view, last_status={}, initial_stock={product.pk: 5})
    check_settled(view)
    check_converged(view)
    assert_invariants(stripe_api)
    assert_converged()


def test_a_paid_order_whose_payment_intent_was_cancelled_at_stripe_breaks_i3(
    checkout, faults, stripe_api
):
    faults.add("lost_request", path="/confirm")
    faults.add("timeout", method="GET", path=PI_READ)
    order = checkout()
    stripe_api.cancel(order.payment_intent_id)
    transition_order(order.pk, OrderStatus.PAID, cause="test:corruption")
    with pytest.raises(AssertionError, match="I3: .* its PaymentIntent is canceled"):
        assert_invariants(stripe_api)


def test_two_succeeded_payment_intents_for_one_order_break_i1(checkout, stripe_api):
    order = checkout()
    stripe_api.create_payment_intent(
        amount=order.total_amount,
        currency="eur",
        payment_method=stripe_api.payment_method(),
        confirm="true",
        metadata={"order_id": str(order.pk), "shop": settings.STRIPE_METADATA_TAG},
    )
    with pytest.raises(AssertionError, match="I1: .* succeeded but order"):
        assert_invariants(stripe_api)
    # A test that made the second charge itself still may not keep its money.
    with pytest.raises(AssertionError, match="I2: .* no refund is in flight"):
        assert_invariants(stripe_api, outside_charges=True)


def test_money_taken_for_a_pending_order_is_safe_but_neither_settled_nor_converged(
    pending_paid_at_stripe, stripe_api
):
    view = StripeView.read(stripe_api)
    check_safe(view)  # in flight: our row will learn it
    with pytest.raises(AssertionError, match="I2: .* is payment_starting"):
        check_settled(view)
    with pytest.raises(AssertionError, match="I4: still pending"):
        check_converged(view)
    with pytest.raises(AssertionError, match="I4: still pending"):
        assert_converged()


def test_a_paid_order_refunded_at_stripe_behind_our_books_has_not_converged(checkout, stripe_api):
    order = checkout()
    stripe_api.refund(order.payment_intent_id, order.total_amount)
    view = StripeView.read(stripe_api)
    check_safe(view)  # the charge.refunded webhook is on its way
    with pytest.raises(AssertionError, match="books: .* says 0 refunded"):
        check_converged(view)


def test_leaving_a_final_state_breaks_i6(checkout, stripe_api):
    order = checkout()
    view = StripeView.read(stripe_api)
    with pytest.raises(AssertionError, match="I6: order .* went canceled -> paid"):
        check_safe(view, last_status={order.pk: OrderStatus.CANCELED})
    record_event(
        order,
        kind=OrderEvent.Kind.TRANSITION,
        cause="test:corruption",
        from_status=OrderStatus.PAID,
        to_status=OrderStatus.PAYMENT_STARTING,
    )
    with pytest.raises(AssertionError, match="I6: recorded paid -> payment_starting"):
        assert_invariants(stripe_api)


def test_a_second_confirmation_email_breaks_i5(checkout, stripe_api):
    order = checkout()
    mail.send_mail(f"Thank you for your order {order.reference}", "again", None, [order.email])
    with pytest.raises(AssertionError, match="I5: 2 confirmation emails"):
        assert_invariants(stripe_api)


def test_stock_that_went_missing_breaks_stock_conservation(checkout, stripe_api, make_product):
    product = make_product(stock=5)
    checkout(product=product, quantity=2)
    view = StripeView.read(stripe_api)
    with pytest.raises(AssertionError, match="stock: .* has 3, expected 4"):
        check_safe(view, initial_stock={product.pk: 6})


def test_goods_restocked_for_an_unpaid_order_break_i7(checkout, stripe_api):
    order = checkout(CARD_3DS)
    OrderLine.objects.filter(order=order).update(restocked_quantity=1)
    with pytest.raises(AssertionError, match="I7: order .* is requires_action but line"):
        check_safe(StripeView.read(stripe_api))


def test_an_unpaid_order_marked_shipped_breaks_i7(checkout, stripe_api):
    order = checkout(CARD_3DS)
    Order.objects.filter(pk=order.pk).update(fulfilment_status="shipped")
    with pytest.raises(AssertionError, match="I7: order .* but its goods are shipped"):
        check_safe(StripeView.read(stripe_api))


def test_restocked_goods_count_in_stock_conservation(checkout, stripe_api, make_product):
    product = make_product(stock=5)
    order = checkout(product=product, quantity=2)
    view = StripeView.read(stripe_api)
    check_safe(view, initial_stock={product.pk: 5})
    # Restocked in the books, but the units never reached the shelf.
    OrderLine.objects.filter(order=order).update(restocked_quantity=2)
    with pytest.raises(AssertionError, match="stock: .* has 3, expected 5"):
        check_safe(view, initial_stock={product.pk: 5})
