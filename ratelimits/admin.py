"""The rate limits' refusals, read-only, in the admin (support sees them on the health page)."""

from django.contrib import admin

from ratelimits.models import LimitHit


@admin.register(LimitHit)
class LimitHitAdmin(admin.ModelAdmin):
    list_display = ("hour", "scope", "key_kind", "count", "last_ip")
    list_filter = ("scope", "key_kind")
    date_hierarchy = "hour"
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
