"""Keep what arrives from outside from growing without bound: the hourly sweep.

dj-stripe keeps a ``WebhookEventTrigger`` row, body included, for every webhook request it
handles. The shop's view stores only requests whose signature verifies, but a row can still
end up unverified (dj-stripe failing to check it, or rows from before that view), and
verified rows accumulate for ever. The events themselves stay (``djstripe_event``): only
the request records go. The rate limits' expired cache entries are deleted here too.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from djstripe.models import WebhookEventTrigger

from orders import clock
from ratelimits.cache import delete_expired_entries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneResult:
    unverified: int
    processed: int
    cache_entries: int

    def as_dict(self) -> dict:
        return {
            "unverified_deleted": self.unverified,
            "processed_deleted": self.processed,
            "expired_cache_entries_deleted": self.cache_entries,
        }


def prune_webhook_records(
    *, unverified_older_than: timedelta | None = None, processed_older_than: timedelta | None = None
) -> PruneResult:
    """Delete unverified webhook records past their time, and processed ones past theirs.

    A verified record that failed processing is kept (staff read its traceback) until it is
    as old as a processed one would be kept.
    """
    now = clock.now()
    unverified_older_than = unverified_older_than or settings.WEBHOOK_UNVERIFIED_KEEP
    processed_older_than = processed_older_than or settings.WEBHOOK_PROCESSED_KEEP
    unverified, _ = WebhookEventTrigger.objects.filter(
        valid=False, created__lt=now - unverified_older_than
    ).delete()
    processed, _ = WebhookEventTrigger.objects.filter(
        valid=True, created__lt=now - processed_older_than
    ).delete()
    result = PruneResult(unverified, processed, delete_expired_entries())
    logger.info("pruned webhook records", extra=result.as_dict())
    return result
