"""The site's middleware: a request id for the logs, and the Content-Security-Policy header."""

import re
import uuid
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

from orders import logcontext

# What an incoming request id may look like (a proxy's or a load balancer's); anything else is
# replaced rather than written into our logs.
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class RequestIdMiddleware:
    """Give each request an id, put it on every log line of the request and on the response.

    With ``REQUEST_ID_HEADER`` set (DJANGO_REQUEST_ID_HEADER, e.g. X-Request-ID, set by the
    proxy in front) a well-formed incoming id is kept, so the proxy's lines and ours match;
    otherwise, and by default, a new one is made (a client could send anything).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = self._incoming(request) or uuid.uuid4().hex
        request.request_id = request_id
        with logcontext.scope(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _incoming(request) -> str | None:
        header = settings.REQUEST_ID_HEADER
        value = request.headers.get(header, "") if header else ""
        return value if REQUEST_ID_SHAPE.fullmatch(value) else None


def stand_in_origin() -> str | None:
    """The local Stripe stand-in's origin when the shop talks to it (its Stripe.js is there)."""
    if not settings.STRIPE_LOCAL_STAND_IN:
        return None
    parts = urlsplit(settings.STRIPE_JS_URL or settings.STRIPE_API_BASE)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's header, plus the stand-in's origin for its Stripe.js, API and frames.

    Read at each request: the tests start the stand-in on a free port after the settings load.
    """

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origin = stand_in_origin()
        if origin and not report_only:
            extra = {"script-src": [origin], "connect-src": [origin], "frame-src": [origin]}
            parts.update = {**extra, **(parts.update or {})}
        return parts
