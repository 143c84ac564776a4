"""System checks that refuse the demo's shortcuts outside DEBUG and the demo.

README "Running in production" lists them.

The demo (``SHOP_DEMO``, scripts/run) runs with DEBUG off but keeps its shortcuts; it is only a
demo while it talks to the local Stripe stand-in, so SHOP_DEMO with real Stripe is refused
(shop.E003) and no real shop can keep the shortcuts by setting it.

The demo secret key is refused by every ``check``; the demo logins (admin and support with the
demo password) need the database, so that check runs only when Django asks for database checks
(``migrate``, ``check --database default``), like payments.E009.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.checks import Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router

DEMO_USERNAMES = ("admin", "support", "owner")
DEMO_PASSWORD = "demo-password"


def _demo_allowed() -> bool:
    """DEBUG, or the demo (SHOP_DEMO) on the local stand-in: the demo's shortcuts may stay."""
    return settings.DEBUG or (settings.SHOP_DEMO and settings.STRIPE_LOCAL_STAND_IN)


@register(Tags.security)
def check_demo_with_real_stripe(app_configs, **kwargs):
    """SHOP_DEMO is for the stand-in only: with real Stripe keys it would keep demo logins."""
    if not settings.SHOP_DEMO or settings.STRIPE_LOCAL_STAND_IN:
        return []
    return [
        Error(
            "SHOP_DEMO is on while the shop talks to real Stripe: the demo's shortcuts (its "
            "published staff logins) must never meet real payments.",
            hint="Unset SHOP_DEMO (it defaults to DJANGO_DEBUG).",
            id="shop.E003",
        )
    ]


@register(Tags.security)
def check_demo_secret_key(app_configs, **kwargs):
    """The demo's SECRET_KEY signs sessions anyone could forge: never outside DEBUG."""
    if _demo_allowed() or settings.SECRET_KEY != settings.DEMO_SECRET_KEY:
        return []
    return [
        Error(
            "DJANGO_SECRET_KEY is the demo's published key with DEBUG off: anyone can forge "
            "this shop's sessions, password-reset links and signed values.",
            hint="Set DJANGO_SECRET_KEY to a long random value kept secret, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
            id="shop.E001",
        )
    ]


@register(Tags.security, Tags.database)
def check_demo_logins(app_configs, databases=None, **kwargs):
    """The demo's staff logins (admin/support, demo password) must not exist outside DEBUG."""
    User = get_user_model()
    alias = router.db_for_read(User) or DEFAULT_DB_ALIAS
    if _demo_allowed() or not databases or alias not in databases:
        return []
    try:
        if User._meta.db_table not in connections[alias].introspection.table_names():
            return []
        found = [
            username
            for username, encoded in User.objects.using(alias)
            .filter(username__in=DEMO_USERNAMES, is_active=True)
            .values_list("username", "password")
            # check_password(), not user.check_password(): that one may rewrite the hash.
            if check_password(DEMO_PASSWORD, encoded)
        ]
    except DatabaseError as exc:
        return [
            Warning(
                f"Could not look for the demo logins in database '{alias}': {exc}",
                hint=f"Start the database and run `manage.py check --database {alias}` again.",
                id="shop.W001",
            )
        ]
    if not found:
        return []
    return [
        Error(
            f"The demo's staff logins {', '.join(sorted(found))} still have the published demo "
            "password, with DEBUG off: anyone could sign in to the admin.",
            hint="Change their passwords (`manage.py changepassword admin`) or deactivate them "
            "in the admin; real staff get logins of their own.",
            id="shop.E002",
        )
    ]
