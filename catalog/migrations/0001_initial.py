"""Product moves from the ``shop`` app (now only the site) to ``catalog``: state only.

The table, its rows and its constraints stay as they are; Django's record of the model moves,
and so does its content type (so existing permissions and admin history keep pointing at it).
"""

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label="catalog", model="product").exists():
        ContentType.objects.using(db).filter(app_label="shop", model="product").update(
            app_label="catalog"
        )


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label="shop", model="product").exists():
        ContentType.objects.using(db).filter(app_label="catalog", model="product").update(
            app_label="shop"
        )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("shop", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Product",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("slug", models.SlugField(unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("description", models.TextField(blank=True)),
                        (
                            "price",
                            models.PositiveIntegerField(help_text="Price in minor units (cents)."),
                        ),
                        ("currency", models.CharField(default="eur", max_length=3)),
                        (
                            "stock",
                            models.IntegerField(default=0, help_text="Units available to sell."),
                        ),
                        ("is_active", models.BooleanField(default=True)),
                    ],
                    options={
                        "db_table": "shop_product",
                        "ordering": ["name"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("stock__gte", 0)),
                                name="product_stock_not_negative",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("price__gt", 0)), name="product_price_positive"
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
