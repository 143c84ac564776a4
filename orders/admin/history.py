"""The rest of an order's story, searchable across orders.

Timeline events, outbox messages and unmatched Stripe events, each read-only.
"""

from django.contrib import admin

from orders.admin.readonly import ReadOnlyMixin
from orders.models import OrderEvent, OutboxMessage, UnmatchedPaymentEvent


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "order", "kind", "cause", "transition", "message", "actor")
    list_filter = ("kind",)
    search_fields = ("order__reference", "cause", "message")
    list_select_related = ("order", "actor")
    date_hierarchy = "at"
    actions = None

    @admin.display(description="state change")
    def transition(self, event: OrderEvent) -> str:
        if not event.to_status:
            return ""
        return f"{event.from_status or '—'} → {event.to_status}"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "order",
        "kind",
        "state",
        "attempts",
        "available_at",
        "done_at",
        "last_error",
    )
    list_filter = ("state", "kind")
    search_fields = ("order__reference", "order__email")
    list_select_related = ("order",)
    actions = None


@admin.register(UnmatchedPaymentEvent)
class UnmatchedPaymentEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("received_at", "source", "event_type", "stripe_id", "resolved")
    list_filter = ("resolved", "source")
    search_fields = ("stripe_id", "event_type")
    actions = None
