"""The reconciler's runs, and the payments health page, in the Django admin."""

from functools import partial

from django.contrib import admin
from django.urls import path

from payments.models import ReconcilerRun
from payments.views import payments_health_view


@admin.register(ReconcilerRun)
class ReconcilerRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "finished_at", "examined", "outcome_summary", "error_count", "ok")
    date_hierarchy = "started_at"
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="outcomes")
    def outcome_summary(self, run: ReconcilerRun) -> str:
        return ", ".join(f"{name}: {count}" for name, count in sorted(run.outcomes.items())) or "—"

    @admin.display(description="errors")
    def error_count(self, run: ReconcilerRun) -> int:
        return len(run.errors)

    @admin.display(description="ok", boolean=True)
    def ok(self, run: ReconcilerRun) -> bool:
        return run.ok

    def get_urls(self):
        # The health page lives here (admin/payments/reconcilerrun/health/) so that the
        # admin site itself, and dj-stripe's registrations on it, stay untouched.
        view = self.admin_site.admin_view(partial(payments_health_view, admin_site=self.admin_site))
        return [path("health/", view, name="payments_health")] + super().get_urls()
