"""The site's own table: messages customers send through the contact page."""

from django.db import models


class ContactMessage(models.Model):
    """A message from the contact form: kept first, emailed to the shop after the commit."""

    name = models.CharField(max_length=100)
    email = models.EmailField()
    message = models.TextField(max_length=5000)
    created_at = models.DateTimeField(db_index=True)
    # Set once the email to the shop went out; an unsent message is listed in the admin.
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} <{self.email}>"
