"""Product now lives in ``catalog`` (see catalog 0001): forget it here, keep its table."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0001_initial"),
        ("catalog", "0001_initial"),
        ("orders", "0003_orderline_product_catalog"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Product")],
            database_operations=[],
        ),
    ]
