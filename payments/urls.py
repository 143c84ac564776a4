"""The Stripe webhook route, under dj-stripe's own namespace and name (its admin reverses it)."""

from django.urls import path

from payments.webhooks import VerifiedWebhookView

app_name = "djstripe"

urlpatterns = [
    path("webhook/<uuid:uuid>/", VerifiedWebhookView.as_view(), name="djstripe_webhook_by_uuid"),
]
