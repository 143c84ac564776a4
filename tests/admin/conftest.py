import secrets

import pytest
from django.contrib.auth.models import Group, User

from orders import clock as order_clock
from orders.models import Order, OrderStatus
from orders.permissions import SUPPORT_GROUP
from tests.conftest import CARD_OK


@pytest.fixture
def support_user(db):
    user = User.objects.create_user("sam", "sam@example.com", "support-pass-123", is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    return user


@pytest.fixture
def plain_staff(db):
    """A staff user outside the Support group: may log in to the admin, sees no orders."""
    return User.objects.create_user("pat", "pat@example.com", "staff-pass-123", is_staff=True)


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def make_order(db):
    """An order row as the database would hold it, without talking to Stripe (for list tests)."""

    def make(status=OrderStatus.PAID, **overrides) -> Order:
        now = order_clock.now()
        fields = {
            "checkout_token": secrets.token_urlsafe(24),
            "email": f"{secrets.token_hex(3)}@example.com",
            "total_amount": 1500,
            "currency": "eur",
            "payment_method_id": "pm_test",
            "status": status,
            "created_at": now,
            "status_changed_at": now,
            "payment_intent_id": f"pi_{secrets.token_hex(8)}",
        }
        fields.update(overrides)
        return Order.objects.create(**fields)

    return make


@pytest.fixture
def stuck_order(checkout, faults, clock):
    """Money taken at Stripe, but the reply was lost and Stripe unreachable since: still pending."""

    def make(**kwargs) -> Order:
        faults.add("lost_response", path="/confirm")
        faults.add("timeout", method="GET", path="/v1/payment_intents/")
        order = checkout(CARD_OK, **kwargs)
        faults.clear()
        assert order.status == OrderStatus.PAYMENT_STARTING
        return order

    return make
