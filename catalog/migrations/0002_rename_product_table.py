"""Give the product table the catalog's name (``shop_product`` -> ``catalog_product``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("shop", "0002_move_product_to_catalog"),
    ]

    operations = [
        migrations.AlterModelTable(name="product", table=None),
    ]
