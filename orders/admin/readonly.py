"""Read-only admin pages: support reads; changes happen only through the audited actions."""


class ReadOnlyMixin:
    """Support reads; changes happen only through the audited actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
