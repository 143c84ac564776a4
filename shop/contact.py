"""The contact page's service: keep the customer's message, email it to the shop after commit.

The message is a row first, so a mail server that is down loses nothing: the email goes out
from a django-q2 task queued on commit; a scheduled sweep (``SCHEDULE``, every five minutes)
sends whatever that missed, and staff see any message not sent yet in the admin.
"""

import logging
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from qworker.brokers import enqueue_errors
from shop.models import ContactMessage

logger = logging.getLogger(__name__)

SEND_TASK = "shop.contact.send_contact_message"
# (name, function, minutes), created after every migrate by ``ensure_contact_schedule``.
SCHEDULE = ("send-contact-messages", "shop.contact.send_unsent_contact_messages", 5)
# The on-commit task normally sends a message within seconds; the sweep leaves it that long.
SWEEP_AFTER = timedelta(minutes=2)


def submit_contact_message(*, name: str, email: str, message: str) -> ContactMessage:
    """Record a customer's message and queue its email to the shop once committed."""
    with transaction.atomic():
        contact = ContactMessage.objects.create(
            name=name, email=email, message=message, created_at=timezone.now()
        )
        transaction.on_commit(lambda: _queue_send(contact.pk))
    return contact


def _queue_send(contact_id: int) -> None:
    from django_q.tasks import async_task  # only once the app registry is ready

    try:
        async_task(SEND_TASK, contact_id, task_name=f"contact-{contact_id}")
    except enqueue_errors():
        logger.warning("could not queue contact email", extra={"contact_id": contact_id})


def send_contact_message(contact_id: int) -> bool:
    """Email one contact message to the shop unless it went already; True if sent now.

    The Message-ID is fixed by the row, so a retry after a lost booking is collapsed by mail
    systems rather than read twice.
    """
    contact = ContactMessage.objects.get(pk=contact_id)
    if contact.sent_at is not None:
        return False
    host = urlsplit(settings.SITE_URL).hostname or "shop.invalid"
    email = EmailMessage(
        f"[{settings.SHOP_NAME}] Message from {contact.name}",
        render_to_string("emails/contact_message.txt", {"contact": contact}),
        settings.DEFAULT_FROM_EMAIL,
        [settings.SHOP_EMAIL],
        reply_to=[contact.email],
        headers={"Message-ID": f"<contact-{contact.pk}@{host}>"},
    )
    try:
        email.send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("contact email failed", extra={"contact_id": contact_id, "error": str(exc)})
        ContactMessage.objects.filter(pk=contact_id).update(last_error=str(exc)[:2000])
        raise
    ContactMessage.objects.filter(pk=contact_id).update(sent_at=timezone.now(), last_error="")
    return True


def send_unsent_contact_messages(limit: int = 100) -> int:
    """Send the messages the on-commit task did not (queueing or mail failed); return how many.

    Each one failing is logged and left for the next sweep.
    """
    due = ContactMessage.objects.filter(
        sent_at__isnull=True, created_at__lte=timezone.now() - SWEEP_AFTER
    ).order_by("created_at")
    sent = 0
    for contact_id in due.values_list("pk", flat=True)[:limit]:
        try:
            sent += send_contact_message(contact_id)
        except (smtplib.SMTPException, OSError):
            continue  # logged and recorded on the row by send_contact_message
    return sent


def ensure_contact_schedule(**kwargs) -> None:
    """Create or update the sweep's schedule by name; running it twice changes nothing."""
    from payments.schedules import ensure_schedule

    ensure_schedule(*SCHEDULE)
