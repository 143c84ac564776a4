"""The payments health page, served inside the Django admin (see payments.admin)."""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from payments.health import payments_health

# Whoever may look at orders (the Support group, superusers) may see how payments are doing.
HEALTH_PERMISSION = "orders.view_order"


def payments_health_view(request, *, admin_site):
    """Show the payments' vital signs: states, stuck orders, the reconciler, the outbox."""
    if not request.user.has_perm(HEALTH_PERMISSION):
        raise PermissionDenied
    context = {
        **admin_site.each_context(request),
        "title": "Payments health",
        "health": payments_health(),
    }
    return TemplateResponse(request, "admin/payments/health.html", context)
