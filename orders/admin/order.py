"""The order list (stuck filter, search) and the order page (timeline and staff actions)."""

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from catalog.templatetags.money import money
from orders import clock
from orders.admin.actions import SUPPORT_ACTIONS
from orders.admin.readonly import ReadOnlyMixin
from orders.exceptions import ActionRefused
from orders.models import Order, OrderLine, OrderStatus
from orders.support import actions as support
from orders.support import selectors
from orders.support.explain import explain_text
from stripe_gateway import budget

logger = logging.getLogger(__name__)

# How often the order page reloads itself while a requested reconcile runs in the background.
RECONCILE_REFRESH_SECONDS = 3


def _stripe_dashboard_url(payment_intent_id: str | None) -> str:
    """The PaymentIntent's page in the Stripe dashboard; "" with the local stand-in."""
    if not payment_intent_id or not settings.STRIPE_DASHBOARD_URL:
        return ""
    return f"{settings.STRIPE_DASHBOARD_URL}/payments/{payment_intent_id}"


def refused_message(label: str, exc: ActionRefused) -> str:
    """An action's refusal for the page: its sentence, any technical detail folded away."""
    if not exc.detail:
        return f"{label} refused: {exc}"
    return format_html(
        '{} refused: {} <details class="technical-detail"><summary>Technical detail</summary>'
        "<code>{}</code></details>",
        label,
        str(exc),
        exc.detail,
    )


class StuckFilter(admin.SimpleListFilter):
    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [
            ("past_grace", "Pending past the grace period"),
            ("attention", "Needs attention"),
            ("refund_failed", "Refund failed"),
        ]

    def queryset(self, request, queryset):
        now = clock.now()
        conditions = {
            "past_grace": lambda: selectors.pending_past_grace(now),
            "attention": lambda: selectors.needs_attention(now),
            "refund_failed": selectors.refund_failed,
        }
        condition = conditions.get(self.value())
        return queryset if condition is None else queryset.filter(condition())


class OrderLineInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderLine
    fields = (
        "product_name",
        "unit_price_display",
        "quantity",
        "line_total_display",
        "restocked_quantity",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="unit price")
    def unit_price_display(self, line: OrderLine) -> str:
        return money(line.unit_price, line.order.currency)

    @admin.display(description="line total")
    def line_total_display(self, line: OrderLine) -> str:
        return money(line.line_total, line.order.currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "status_badge",
        "fulfilment_status",
        "age",
        "email",
        "total",
        "attempts",
        "next_reconcile",
    )
    list_filter = ("status", "fulfilment_status", StuckFilter)
    search_fields = ("reference", "email", "payment_intent_id", "idempotency_key")
    search_help_text = "Order reference, email, PaymentIntent id (pi_…) or idempotency key."
    ordering = ("-created_at", "-pk")
    list_per_page = 50
    actions = None
    inlines = (OrderLineInline,)
    fieldsets = (
        (
            "Order",
            {
                "fields": (
                    "reference",
                    "status_badge",
                    "status_reason",
                    "email",
                    ("created_at", "status_changed_at"),
                    ("total", "refunded"),
                ),
            },
        ),
        (
            "Delivery",
            {
                "fields": (
                    "full_name",
                    ("address_line1", "address_line2"),
                    ("postal_code", "city", "country"),
                    ("shipping_method_name", "shipping_price"),
                    ("vat_rate", "vat"),
                ),
            },
        ),
        (
            "Fulfilment",
            {
                "fields": (
                    "fulfilment_status",
                    ("carrier", "tracking_reference"),
                    ("shipped_at", "delivered_at"),
                ),
            },
        ),
        (
            "Payment",
            {
                "fields": (
                    "payment_intent",
                    "idempotency_key",
                    "payment_method_id",
                    ("attempts", "next_reconcile"),
                    "last_error_explained",
                    "lease_until",
                ),
            },
        ),
    )
    readonly_fields = (
        "reference",
        "status_badge",
        "status_reason",
        "email",
        "created_at",
        "status_changed_at",
        "total",
        "refunded",
        "payment_intent",
        "idempotency_key",
        "payment_method_id",
        "attempts",
        "next_reconcile",
        "last_error_explained",
        "lease_until",
        "full_name",
        "address_line1",
        "address_line2",
        "postal_code",
        "city",
        "country",
        "shipping_method_name",
        "shipping_price",
        "vat_rate",
        "vat",
        "fulfilment_status",
        "carrier",
        "tracking_reference",
        "shipped_at",
        "delivered_at",
    )
    change_form_template = "admin/orders/order/change_form.html"
    change_list_template = "admin/orders/order/change_list.html"

    # --- columns

    @admin.display(description="status", ordering="status")
    def status_badge(self, order: Order) -> str:
        return format_html(
            '<strong class="order-status order-status-{}">{}</strong>',
            order.status,
            order.get_status_display(),
        )

    @admin.display(description="age", ordering="created_at")
    def age(self, order: Order) -> str:
        return timesince(order.created_at, clock.now())

    @admin.display(description="total", ordering="total_amount")
    def total(self, order: Order) -> str:
        return money(order.total_amount, order.currency)

    @admin.display(description="shipping price")
    def shipping_price(self, order: Order) -> str:
        return money(order.shipping_amount, order.currency)

    @admin.display(description="VAT included")
    def vat(self, order: Order) -> str:
        return money(order.vat_amount, order.currency)

    @admin.display(description="refunded")
    def refunded(self, order: Order) -> str:
        return money(order.refunded_amount, order.currency)

    @admin.display(description="next reconcile", ordering="next_attempt_at")
    def next_reconcile(self, order: Order) -> str:
        if not order.is_pending:
            return "—"
        if order.next_attempt_at is None or order.next_attempt_at <= clock.now():
            return "due now"
        return f"in {timeuntil(order.next_attempt_at, clock.now())}"

    @admin.display(description="PaymentIntent")
    def payment_intent(self, order: Order) -> str:
        if not order.payment_intent_id:
            return "—"
        url = _stripe_dashboard_url(order.payment_intent_id)
        if not url:
            return order.payment_intent_id
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{} (Stripe dashboard)</a>',
            url,
            order.payment_intent_id,
        )

    @admin.display(description="last error")
    def last_error_explained(self, order: Order) -> str:
        """The last failed attempt in plain words; Stripe's own text folded away under it."""
        explained = explain_text(order.last_error, retrying=order.is_pending)
        return explained.html() if explained.plain else "—"

    # --- the order page: timeline and actions

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/support/<slug:action>/",
                self.admin_site.admin_view(self.support_action_view),
                name="{}_{}_support_action".format(*info),
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        if order is not None and self.has_view_permission(request, order):
            extra_context = {**(extra_context or {}), **self._support_context(request, order)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _support_context(self, request, order: Order) -> dict:
        available, unavailable = [], []
        for action in SUPPORT_ACTIONS.values():
            if not request.user.has_perm(action.permission):
                continue
            if not action.applies(order):
                unavailable.append((action.label, action.not_applicable))
                continue
            available.append(
                {
                    "action": action,
                    "form": action.form_class(prefix=action.name),
                    "url": reverse(
                        f"{self.admin_site.name}:orders_order_support_action",
                        args=[order.pk, action.name],
                    ),
                }
            )
        refundable = support.refundable_amount(order) if order.status == OrderStatus.PAID else 0
        return {
            "support_actions": available,
            "unavailable_actions": unavailable,
            "refundable": money(refundable, order.currency),
            "timeline": selectors.order_timeline(order),
            "stripe_dashboard_url": _stripe_dashboard_url(order.payment_intent_id),
            "reconcile_status": selectors.reconcile_status(order),
            "refresh_seconds": RECONCILE_REFRESH_SECONDS,
        }

    def support_action_view(self, request, object_id: str, action: str):
        """Perform one staff action on one order, then show the order again."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        spec = SUPPORT_ACTIONS.get(action)
        order = self.get_object(request, unquote(object_id))
        if spec is None or order is None:
            raise Http404("No such order or action.")
        if not self.has_view_permission(request, order) or not request.user.has_perm(
            spec.permission
        ):
            raise PermissionDenied
        form = spec.form_class(request.POST, prefix=spec.name)
        if form.is_valid():
            try:
                with budget.work_class(budget.STAFF):
                    level, text = spec.perform(request, order, form.cleaned_data)
            except ActionRefused as exc:
                level, text = messages.ERROR, refused_message(spec.label, exc)
        else:
            level, text = messages.ERROR, f"{spec.label} not done: {form.error_summary()}"
        logger.info(
            "support action",
            extra={
                "order_id": order.pk,
                "action": spec.name,
                "user": request.user.get_username(),
                "level": level,
            },
        )
        messages.add_message(request, level, text)
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:orders_order_change", args=[order.pk])
        )
