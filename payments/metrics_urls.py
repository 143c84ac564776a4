"""The monitor's route: /metrics (payments.metrics)."""

from django.urls import path

from payments.metrics import metrics

urlpatterns = [path("metrics", metrics, name="metrics")]
