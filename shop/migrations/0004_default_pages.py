"""Default terms, privacy and returns pages (flatpages at /pages/terms/ etc.), staff edit them."""

from django.db import migrations


def create_default_pages(apps, schema_editor):
    from shop.default_pages import ensure_default_pages

    ensure_default_pages(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0003_contactmessage"),
        ("sites", "0002_alter_domain_unique"),
        ("flatpages", "0001_initial"),
    ]

    operations = [
        # Reversing keeps the pages: they may hold what staff wrote since.
        migrations.RunPython(create_default_pages, migrations.RunPython.noop),
    ]
