"""Abuse controls shared by every form the public can post: rate limits and their counter.

``limits.rate_limited("checkout")`` wraps a view with the limits named in
``settings.RATE_LIMITS`` (django-ratelimit, counting in the shared cache);
``client.client_ip`` is the one place that says who a request comes from.
A leaf: it imports no project package.
"""
