"""The contact page's messages, for staff to see what came in and whether it was emailed."""

from django.contrib import admin

from shop.models import ContactMessage


@admin.register(ContactMessage)
class ContactMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "name", "email", "sent_at")
    list_filter = (("sent_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "email", "message")
    readonly_fields = ("name", "email", "message", "created_at", "sent_at", "last_error")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
