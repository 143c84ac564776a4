"""The rest of an order's story, searchable across orders.

Timeline events, outbox messages and unmatched Stripe events, each read-only; an unmatched
event is resolved (attached to an order, or dismissed) through ``orders.support.unmatched``.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from orders.admin.order import refused_message
from orders.admin.readonly import ReadOnlyMixin
from orders.exceptions import ActionRefused
from orders.models import OrderEvent, OutboxMessage, UnmatchedPaymentEvent
from orders.support import unmatched
from orders.support.explain import explain_text

logger = logging.getLogger(__name__)


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
        "last_error_explained",
    )
    list_filter = ("state", "kind")
    search_fields = ("order__reference", "order__email")
    list_select_related = ("order",)
    actions = None

    @admin.display(description="last error")
    def last_error_explained(self, message: OutboxMessage) -> str:
        """The last failure in plain words; Stripe's own text folded away under it."""
        retrying = message.state == OutboxMessage.State.PENDING
        explained = explain_text(message.last_error, retrying=retrying)
        return explained.html() if explained.plain else "—"


class AttachEventForm(forms.Form):
    order_reference = forms.CharField(
        label="Order",
        max_length=16,
        widget=forms.TextInput(attrs={"size": 14, "placeholder": "ORD-…"}),
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 50, "placeholder": "Why (kept with the event)"}),
    )


class DismissEventForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 50, "placeholder": "Why (kept with the event)"}),
    )


UNMATCHED_FORMS = {"attach": AttachEventForm, "dismiss": DismissEventForm}
RESOLVE_PERMISSION = "orders.resolve_unmatchedpaymentevent"


def _form_errors(form: forms.Form) -> str:
    return "; ".join(
        f"{form[name].label}: {' '.join(errors)}" for name, errors in form.errors.items()
    )


@admin.register(UnmatchedPaymentEvent)
class UnmatchedPaymentEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "source",
        "event_type",
        "stripe_id",
        "resolved",
        "resolution",
        "order",
        "resolved_by",
    )
    list_filter = ("resolved", "resolution", "source")
    search_fields = ("stripe_id", "event_type", "order__reference")
    list_select_related = ("order", "resolved_by")
    actions = None
    change_form_template = "admin/orders/unmatchedpaymentevent/change_form.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/resolve/<slug:action>/",
                self.admin_site.admin_view(self.resolve_view),
                name="{}_{}_resolve".format(*info),
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        if event is not None and not event.resolved and request.user.has_perm(RESOLVE_PERMISSION):
            extra_context = {
                **(extra_context or {}),
                "resolve_forms": [
                    (
                        action,
                        form_class(prefix=action),
                        reverse(
                            f"{self.admin_site.name}:orders_unmatchedpaymentevent_resolve",
                            args=[event.pk, action],
                        ),
                    )
                    for action, form_class in UNMATCHED_FORMS.items()
                ],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def resolve_view(self, request, object_id: str, action: str):
        """Attach the event to an order or dismiss it, then show the event again."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form_class = UNMATCHED_FORMS.get(action)
        event = self.get_object(request, unquote(object_id))
        if form_class is None or event is None:
            raise Http404("No such event or action.")
        if not request.user.has_perm(RESOLVE_PERMISSION):
            raise PermissionDenied
        form = form_class(request.POST, prefix=action)
        if not form.is_valid():
            level, text = messages.ERROR, f"Not done: {_form_errors(form)}"
        else:
            try:
                level, text = self._resolve(request, event, action, form.cleaned_data)
            except ActionRefused as exc:
                level, text = messages.ERROR, refused_message(action.capitalize(), exc)
        logger.info(
            "unmatched event action",
            extra={"unmatched_id": event.pk, "action": action, "user": request.user.get_username()},
        )
        messages.add_message(request, level, text)
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:orders_unmatchedpaymentevent_change", args=[event.pk])
        )

    def _resolve(self, request, event, action: str, data: dict) -> tuple[int, str]:
        if action == "attach":
            event, order = unmatched.attach_unmatched_event(
                event_id=event.pk,
                order_reference=data["order_reference"],
                actor=request.user,
                reason=data["reason"],
            )
            return messages.SUCCESS, (
                f"Payment {event.payment_intent_id} attached to order {order.reference}, which "
                f"is now {order.get_status_display().lower()}."
            )
        unmatched.dismiss_unmatched_event(
            event_id=event.pk, actor=request.user, reason=data["reason"]
        )
        return messages.SUCCESS, "Event dismissed; the reason is kept with it."
