"""The support desk: orders, their timeline and the safe actions, in the Django admin.

Support staff read everything and edit nothing here: every change goes through one of the
actions of ``orders.support`` (idempotent, audited, refused when the order's state does not
allow it). The admin only parses the form and calls that one service.
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from orders import support
from orders import support_selectors as selectors
from orders.exceptions import ActionRefused
from orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    UnmatchedPaymentEvent,
)
from shop import clock
from shop.templatetags.money import money

logger = logging.getLogger(__name__)

STATUS_COLOURS = {
    OrderStatus.PAYMENT_STARTING: "#b26a00",
    OrderStatus.REQUIRES_ACTION: "#b26a00",
    OrderStatus.PAID: "#1b5e20",
    OrderStatus.PAYMENT_FAILED: "#b71c1c",
    OrderStatus.CANCELED: "#555",
    OrderStatus.REFUNDED: "#0d47a1",
}


def _stripe_dashboard_url(payment_intent_id: str | None) -> str:
    """The PaymentIntent's page in the Stripe dashboard; "" with the local stand-in."""
    if not payment_intent_id or not settings.STRIPE_DASHBOARD_URL:
        return ""
    return f"{settings.STRIPE_DASHBOARD_URL}/payments/{payment_intent_id}"


# --- The "stuck" filter ---------------------------------------------------------------


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


# --- The action forms -----------------------------------------------------------------


def _new_request_token() -> str:
    return secrets.token_urlsafe(16)


class ActionForm(forms.Form):
    """One submission of a staff action; the hidden token makes a double submit harmless."""

    request_token = forms.CharField(
        widget=forms.HiddenInput,
        max_length=support.MAX_TOKEN_LENGTH,
        initial=_new_request_token,
        error_messages={
            "required": "This form has expired; reload the page and try again.",
            "max_length": "This form has expired; reload the page and try again.",
        },
    )

    def error_summary(self) -> str:
        """The form's errors on one line, for a message above the order page."""
        parts = []
        for name, errors in self.errors.items():
            text = " ".join(errors)
            visible = name in self.fields and not self.fields[name].widget.is_hidden
            parts.append(f"{self[name].label}: {text}" if visible else text)
        return "; ".join(parts)

    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(
            attrs={"size": 50, "placeholder": "Why (kept in the order's history)"}
        ),
    )


class ReconcileForm(ActionForm):
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"size": 50, "placeholder": "Why (optional)"}),
    )


class RefundForm(ActionForm):
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=2,
        max_digits=10,
        help_text="In the order's currency, e.g. 5.00. Leave empty to refund everything left.",
        widget=forms.TextInput(attrs={"size": 8, "inputmode": "decimal"}),
    )

    def clean_amount(self) -> int | None:
        """The amount in minor units (cents), or None for "everything that is left"."""
        amount = self.cleaned_data["amount"]
        if amount is None:
            return None
        return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


# --- The actions: each calls one service ----------------------------------------------


@dataclass(frozen=True)
class SupportAction:
    name: str
    label: str
    permission: str
    form_class: type[ActionForm]
    applies: Callable[[Order], bool]
    not_applicable: str
    perform: Callable[[HttpRequest, Order, dict], tuple[int, str]]
    confirm: str = ""


def _reconcile(request, order: Order, data: dict) -> tuple[int, str]:
    order = support.reconcile_now(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    if order.is_pending:
        return messages.WARNING, (
            f"Order {order.reference} is still {order.get_status_display().lower()}"
            f"{': ' + order.last_error if order.last_error else ''}. The reconciler keeps trying; "
            "nothing more was charged."
        )
    return messages.SUCCESS, f"Order {order.reference} is now {order.get_status_display().lower()}."


def _cancel(request, order: Order, data: dict) -> tuple[int, str]:
    order = support.cancel_unpaid_order(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    return messages.SUCCESS, (
        f"Order {order.reference} is {order.get_status_display().lower()}: stock released, "
        "the customer is told, nothing was kept."
    )


def _refund(request, order: Order, data: dict) -> tuple[int, str]:
    message = support.refund_order(
        order_id=order.pk,
        amount=data["amount"],
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    amount = money(message.payload.get("amount"), order.currency)
    message.refresh_from_db(fields=["state", "last_error"])
    if message.state == OutboxMessage.State.SENT:
        return messages.SUCCESS, f"Refund of {amount} made at Stripe for {order.reference}."
    if message.state == OutboxMessage.State.FAILED:
        return messages.ERROR, f"Refund of {amount} failed: {message.last_error}"
    return messages.SUCCESS, (
        f"Refund of {amount} queued for {order.reference}; it is retried until Stripe confirms it."
    )


def _resend(request, order: Order, data: dict) -> tuple[int, str]:
    support.resend_confirmation(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    return messages.SUCCESS, f"Confirmation email of {order.reference} sent again to {order.email}."


SUPPORT_ACTIONS: dict[str, SupportAction] = {
    action.name: action
    for action in (
        SupportAction(
            name="reconcile",
            label="Reconcile now",
            permission="orders.reconcile_order",
            form_class=ReconcileForm,
            applies=lambda order: order.is_pending,
            not_applicable="only a pending order can be reconciled",
            perform=_reconcile,
        ),
        SupportAction(
            name="cancel",
            label="Cancel and unwind",
            permission="orders.cancel_order",
            form_class=ActionForm,
            applies=lambda order: order.is_pending,
            not_applicable="only an unpaid, pending order can be cancelled",
            perform=_cancel,
            confirm="Cancel this order and release its stock?",
        ),
        SupportAction(
            name="refund",
            label="Refund",
            permission="orders.refund_order",
            form_class=RefundForm,
            applies=lambda order: order.status == OrderStatus.PAID,
            not_applicable="only a paid order can be refunded",
            perform=_refund,
            confirm="Refund this money to the customer?",
        ),
        SupportAction(
            name="resend_confirmation",
            label="Resend confirmation email",
            permission="orders.resend_confirmation",
            form_class=ActionForm,
            applies=lambda order: order.status == OrderStatus.PAID,
            not_applicable="only a paid order has a confirmation",
            perform=_resend,
        ),
    )
}


# --- Orders -----------------------------------------------------------------------------


class ReadOnlyMixin:
    """Support reads; changes happen only through the audited actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderLine
    fields = ("product_name", "unit_price_display", "quantity", "line_total_display")
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
        "age",
        "email",
        "total",
        "attempts",
        "next_reconcile",
    )
    list_filter = ("status", StuckFilter)
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
            "Payment",
            {
                "fields": (
                    "payment_intent",
                    "idempotency_key",
                    "payment_method_id",
                    ("attempts", "next_reconcile"),
                    "last_error",
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
        "last_error",
        "lease_until",
    )
    change_form_template = "admin/orders/order/change_form.html"
    change_list_template = "admin/orders/order/change_list.html"

    # --- columns

    @admin.display(description="status", ordering="status")
    def status_badge(self, order: Order) -> str:
        return format_html(
            '<strong class="order-status order-status-{}" style="color:{}">{}</strong>',
            order.status,
            STATUS_COLOURS.get(order.status, "inherit"),
            order.get_status_display(),
        )

    @admin.display(description="age", ordering="created_at")
    def age(self, order: Order) -> str:
        return timesince(order.created_at, clock.now())

    @admin.display(description="total", ordering="total_amount")
    def total(self, order: Order) -> str:
        return money(order.total_amount, order.currency)

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
                level, text = spec.perform(request, order, form.cleaned_data)
            except ActionRefused as exc:
                level, text = messages.ERROR, f"{spec.label} refused: {exc}"
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


# --- The rest of an order's story, for searching across orders ---------------------------


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
