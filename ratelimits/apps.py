"""The rate limits' app: their hit counter, and the cache table they count in."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RateLimitsConfig(AppConfig):
    name = "ratelimits"
    verbose_name = "Abuse controls"

    def ready(self):
        from ratelimits.cache import create_cache_tables

        # The cache table is not a model: make it whenever the database is migrated
        # (scripts/run, a deployment's migrate, the test database), as createcachetable would.
        post_migrate.connect(create_cache_tables, sender=self)
