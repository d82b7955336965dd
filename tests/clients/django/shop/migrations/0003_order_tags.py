# Written as `makemigrations` writes an AddField of a PostgreSQL array
# (django.contrib.postgres's ArrayField): a varchar(20)[] column, added
# with its default for the rows there are.

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0002_note_varchar"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="tags",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=20), blank=True, default=list, size=None
            ),
        ),
    ]
