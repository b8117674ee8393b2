"""The unmanaged Task model: no table, only its content type and permissions."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Task",
            fields=[
                ("id", models.CharField(max_length=255, primary_key=True, serialize=False)),
            ],
            options={
                "verbose_name": "task",
                "verbose_name_plural": "tasks",
                "permissions": [
                    ("requeue_task", "Can requeue tasks"),
                    ("purge_task", "Can purge tasks"),
                ],
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
