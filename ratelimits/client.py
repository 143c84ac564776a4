"""Who a request comes from: REMOTE_ADDR, or a trusted proxy's header when one is configured.

A header such as X-Forwarded-For is only as trustworthy as the proxy that writes it: the
client can send one too. So it is read only when ``CLIENT_IP_HEADER`` names it, and of an
X-Forwarded-For chain only the entry added by the outermost of ``TRUSTED_PROXY_COUNT``
proxies is taken (counting from the right, where each proxy appends the address it saw).
"""

import ipaddress

from django.conf import settings


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str:
    """The client's address as this deployment can trust it."""
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"
    header = settings.CLIENT_IP_HEADER
    if not header:
        return remote
    raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
    hops = [hop for hop in raw.split(",") if hop.strip()]
    count = max(settings.TRUSTED_PROXY_COUNT, 1)
    if len(hops) < count:
        return remote  # the proxies did not write what they should: trust nothing of it
    return _valid_ip(hops[-count]) or remote


def ratelimit_ip(request) -> str:
    """django-ratelimit's ``RATELIMIT_IP_META_KEY`` callable."""
    return client_ip(request)


def axes_ip(request) -> str:
    """django-axes' ``AXES_CLIENT_IP_CALLABLE``."""
    return client_ip(request)
