"""Shipping rates and VAT rates, edited by the shop's owner; the checkout reads them live."""

from django.contrib import admin

from catalog.templatetags.money import money
from orders.models import ShippingMethod, ShippingZone, VatRate


class ShippingMethodInline(admin.TabularInline):
    model = ShippingMethod
    extra = 1
    fields = (
        "name",
        "price",
        "currency",
        "free_over",
        "delivery_estimate",
        "position",
        "is_active",
    )


@admin.register(ShippingZone)
class ShippingZoneAdmin(admin.ModelAdmin):
    list_display = ("name", "country_list", "methods_summary")
    search_fields = ("name", "countries")
    inlines = (ShippingMethodInline,)

    @admin.display(description="countries")
    def country_list(self, zone: ShippingZone) -> str:
        return ", ".join(country.name for country in zone.countries)

    @admin.display(description="methods")
    def methods_summary(self, zone: ShippingZone) -> str:
        return "; ".join(
            f"{method.name} {money(method.price, method.currency)}"
            + ("" if method.is_active else " (off)")
            for method in zone.methods.all()
        )


@admin.register(VatRate)
class VatRateAdmin(admin.ModelAdmin):
    list_display = ("country", "percent")
    search_fields = ("country",)
    ordering = ("country",)

    @admin.display(description="rate", ordering="rate")
    def percent(self, rate: VatRate) -> str:
        return f"{(rate.rate * 100).normalize():f} %"
