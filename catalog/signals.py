"""Remove a picture's files once the row that named them is gone for good (after commit)."""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from catalog.models import ProductImage


@receiver(post_delete, sender=ProductImage, dispatch_uid="catalog.delete_image_files")
def delete_image_files(sender, instance: ProductImage, **kwargs) -> None:
    for field in ("image", "thumbnail", "card", "large"):
        file = getattr(instance, field)
        if file:
            # After the commit: a rolled-back delete must still find its files.
            transaction.on_commit(partial(file.storage.delete, file.name))
