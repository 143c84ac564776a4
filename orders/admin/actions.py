"""The staff actions on an order's admin page: their forms, who may use them, what they do.

Each action parses its form and calls one service of ``orders.support.actions``; the hidden
request token makes a double submit harmless.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from catalog.templatetags.money import money
from orders.models import PENDING_STATUSES, FulfilmentStatus, Order, OrderStatus, OutboxMessage
from orders.support import actions as support
from orders.support import fulfilment, reconcile, refunds
from orders.support.explain import Explained, explain_text


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

    # I7: a refund never puts goods back by itself; staff must say whether they came back.
    restock = forms.TypedChoiceField(
        label="Goods back in stock?",
        choices=[("yes", "Yes, back in stock"), ("no", "No, not back")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        help_text="Yes only if the goods came back (or never left); they return to stock once.",
        error_messages={"required": "Say whether the goods come back to stock (yes or no)."},
    )

    def clean_amount(self) -> int | None:
        """The amount in minor units (cents), or None for "everything that is left"."""
        amount = self.cleaned_data["amount"]
        if amount is None:
            return None
        return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


class ShipForm(ActionForm):
    reason = None
    carrier = forms.CharField(
        max_length=fulfilment.MAX_CARRIER_LENGTH,
        widget=forms.TextInput(attrs={"size": 14, "placeholder": "e.g. DHL"}),
    )
    tracking_reference = forms.CharField(
        max_length=fulfilment.MAX_TRACKING_LENGTH,
        label="Tracking reference",
        widget=forms.TextInput(attrs={"size": 20}),
    )


class DeliverForm(ActionForm):
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"size": 30, "placeholder": "Note (optional)"}),
    )


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
    """Queue the check to the worker and answer at once; the order page refreshes until done."""
    asked = reconcile.request_reconcile(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    ref = asked.order.reference
    result = asked.result()
    if result is not None:  # already done (a synchronous worker, or a replayed submission)
        return _reconcile_outcome(ref, result)
    if asked.state == reconcile.BUSY:
        return messages.WARNING, (
            f"Order {ref} is being worked on right now (by the checkout, a webhook or the "
            "reconciler), so no second check was queued. Reload this page in a moment to see "
            "where it stands."
        )
    if asked.state in (reconcile.ALREADY_RUNNING, reconcile.ALREADY_REQUESTED):
        return messages.INFO, (
            f"A check of order {ref} with Stripe is already running; this page refreshes "
            "until it is done."
        )
    return messages.SUCCESS, (
        f"Check of order {ref} with Stripe requested: it runs in the background and this page "
        "refreshes until it is done."
    )


def _reconcile_outcome(reference: str, result) -> tuple[int, str]:
    """The message for a finished background reconcile (plain words, detail folded away)."""
    if "status" not in result.details:  # the check could not even be queued
        return messages.WARNING, f"Order {reference}: {result.message}"
    status = OrderStatus(result.details["status"])
    if status.value not in PENDING_STATUSES:
        return messages.SUCCESS, f"Order {reference} is now {status.label.lower()}."
    error = result.details.get("error") or result.details.get("last_error") or ""
    explained = explain_text(error)
    if not explained.plain:
        explained = Explained(
            "Stripe has not settled the payment yet; nothing more was charged and the shop "
            "keeps checking."
        )
    return messages.WARNING, explained.html(
        before=f"Order {reference} is still {status.label.lower()}."
    )


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
        restock=data["restock"],
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    amount = money(message.payload.get("amount"), order.currency)
    message.refresh_from_db(fields=["state", "last_error"])
    if message.state == OutboxMessage.State.SENT:
        return messages.SUCCESS, f"Refund of {amount} made at Stripe for {order.reference}."
    if message.state == OutboxMessage.State.FAILED:
        return messages.ERROR, explain_text(message.last_error, retrying=False).html(
            before=f"Refund of {amount} failed.",
            after="Use “Retry refund” or “Mark refund resolved outside the shop” below.",
        )
    return messages.SUCCESS, (
        f"Refund of {amount} queued for {order.reference}; it is retried until Stripe confirms it."
    )


def _ship(request, order: Order, data: dict) -> tuple[int, str]:
    order = fulfilment.ship_order(
        order_id=order.pk,
        actor=request.user,
        carrier=data["carrier"],
        tracking_reference=data["tracking_reference"],
        request_token=data["request_token"],
    )
    return messages.SUCCESS, (
        f"Order {order.reference} is shipped ({order.carrier}, tracking "
        f"{order.tracking_reference}); {order.email} is emailed."
    )


def _deliver(request, order: Order, data: dict) -> tuple[int, str]:
    order = fulfilment.mark_delivered(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    return messages.SUCCESS, f"Order {order.reference} is delivered."


def _restock(request, order: Order, data: dict) -> tuple[int, str]:
    moved = fulfilment.restock_goods(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    units = ", ".join(f"{m['units']} × {m['name']}" for m in moved) or "nothing more"
    return messages.SUCCESS, f"Back in stock from {order.reference}: {units}."


def _resend(request, order: Order, data: dict) -> tuple[int, str]:
    support.resend_confirmation(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    return messages.SUCCESS, f"Confirmation email of {order.reference} sent again to {order.email}."


def _retry_refund(request, order: Order, data: dict) -> tuple[int, str]:
    retried = refunds.retry_failed_refunds(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    total = money(sum(int(m.payload.get("amount", 0)) for m in retried), order.currency)
    states = set(
        OutboxMessage.objects.filter(pk__in=[m.pk for m in retried]).values_list("state", flat=True)
    )
    if states == {OutboxMessage.State.SENT}:
        return messages.SUCCESS, f"Refund of {total} made at Stripe for {order.reference}."
    if OutboxMessage.State.FAILED in states:
        last = OutboxMessage.objects.filter(pk__in=[m.pk for m in retried]).last()
        return messages.ERROR, explain_text(last.last_error if last else "", retrying=False).html(
            before=f"The retried refund of {total} failed again.",
        )
    return messages.SUCCESS, (
        f"Refund of {total} for {order.reference} queued again; the shop retries it until Stripe "
        "confirms it."
    )


def _resolve_refund(request, order: Order, data: dict) -> tuple[int, str]:
    resolved = refunds.resolve_failed_refunds(
        order_id=order.pk,
        actor=request.user,
        reason=data["reason"],
        request_token=data["request_token"],
    )
    total = money(sum(int(m.payload.get("amount", 0)) for m in resolved), order.currency)
    return messages.SUCCESS, (
        f"Failed refund of {total} for {order.reference} marked resolved outside the shop; "
        "nothing was sent to Stripe."
    )


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
        SupportAction(
            name="retry_refund",
            label="Retry refund",
            permission="orders.refund_order",
            form_class=ActionForm,
            applies=refunds.has_failed_refund,
            not_applicable="no refund of this order failed",
            perform=_retry_refund,
            confirm="Send the failed refund to Stripe again?",
        ),
        SupportAction(
            name="resolve_refund",
            label="Mark refund resolved outside the shop",
            permission="orders.refund_order",
            form_class=ActionForm,
            applies=refunds.has_failed_refund,
            not_applicable="no refund of this order failed",
            perform=_resolve_refund,
            confirm="Mark the failed refund settled outside the shop? Nothing is sent to Stripe.",
        ),
        SupportAction(
            name="ship",
            label="Mark shipped",
            permission="orders.ship_order",
            form_class=ShipForm,
            applies=lambda order: (
                order.status == OrderStatus.PAID
                and order.fulfilment_status == FulfilmentStatus.UNFULFILLED
            ),
            not_applicable="only a paid order not shipped yet can be shipped",
            perform=_ship,
        ),
        SupportAction(
            name="deliver",
            label="Mark delivered",
            permission="orders.ship_order",
            form_class=DeliverForm,
            applies=lambda order: (
                order.status == OrderStatus.PAID
                and order.fulfilment_status == FulfilmentStatus.SHIPPED
            ),
            not_applicable="only a paid, shipped order can be marked delivered",
            perform=_deliver,
        ),
        SupportAction(
            name="restock",
            label="Goods returned to stock",
            permission="orders.restock_order",
            form_class=ActionForm,
            applies=lambda order: (
                order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)
                and not order.stock_released
                and any(line.restocked_quantity < line.quantity for line in order.lines.all())
            ),
            not_applicable="only a paid or refunded order's goods not yet back can be restocked",
            perform=_restock,
            confirm="Put this order's goods back in stock?",
        ),
    )
}
