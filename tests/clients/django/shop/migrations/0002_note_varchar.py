# Written as `makemigrations` writes an AlterField: the note's type
# narrowed from text to varchar(200) (a rewrite of the rows).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="note",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
