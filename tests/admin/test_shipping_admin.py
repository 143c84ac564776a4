"""The owner edits shipping rates and VAT rates in the admin; the checkout offers them at once."""

from decimal import Decimal

import pytest

from orders.models import ShippingMethod, ShippingZone, VatRate


@pytest.fixture
def owner(client, django_user_model):
    user = django_user_model.objects.create_superuser("owner", "owner@example.com", "pw")
    client.force_login(user)
    return client


def zone_form(**method):
    fields = {
        "name": "Nordics",
        "countries": ["SE", "DK"],
        "methods-TOTAL_FORMS": "1",
        "methods-INITIAL_FORMS": "0",
        "methods-MIN_NUM_FORMS": "0",
        "methods-MAX_NUM_FORMS": "1000",
        "methods-0-name": "Postnord",
        "methods-0-price": "1295",
        "methods-0-currency": "eur",
        "methods-0-free_over": "",
        "methods-0-delivery_estimate": "3-5 working days",
        "methods-0-position": "0",
        "methods-0-is_active": "on",
    }
    fields.update({f"methods-0-{k}": v for k, v in method.items()})
    return fields


@pytest.fixture(autouse=True)
def no_starting_rates(db):
    """Without the rates migration orders/0006 seeds: only what the test's owner adds."""
    ShippingZone.objects.all().delete()
    VatRate.objects.all().delete()


def test_a_zone_added_in_the_admin_is_offered_at_checkout(owner, make_product):
    response = owner.post("/admin/orders/shippingzone/add/", zone_form())
    assert response.status_code == 302
    zone = ShippingZone.objects.get(name="Nordics")
    assert sorted(zone.country_codes) == ["DK", "SE"]
    owner.post("/admin/orders/vatrate/add/", {"country": "SE", "rate": "0.2500"})
    assert VatRate.objects.get(country="SE").rate == Decimal("0.2500")

    mug = make_product(price=1800)
    owner.post("/cart/add/", {"product_id": mug.pk, "quantity": "1"})
    page = owner.get("/checkout/").content.decode()
    assert '<option value="SE">Sweden</option>' in page
    assert "Postnord — €12.95" in page
    method = ShippingMethod.objects.get(name="Postnord")
    figures = owner.get("/checkout/quote/", {"country": "SE", "shipping_method": method.pk})
    assert figures.json()["vat"] == 619  # 30.95 * 25 / 125 = 6.19


def test_a_refused_rate_says_why_and_saves_nothing(owner):
    response = owner.post("/admin/orders/shippingzone/add/", zone_form(price="-5"))
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    assert not ShippingZone.objects.exists() and not ShippingMethod.objects.exists()
    refused = owner.post("/admin/orders/vatrate/add/", {"country": "SE", "rate": "1.5"})
    assert refused.status_code == 200 and not VatRate.objects.filter(country="SE").exists()
    assert "A VAT rate is a fraction below 1: 0.21 for 21 percent." in refused.content.decode()
