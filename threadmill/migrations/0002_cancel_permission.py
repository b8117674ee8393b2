"""The `cancel_task` permission (admin Cancel and Terminate actions)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("threadmill", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="task",
            options={
                "verbose_name": "task",
                "verbose_name_plural": "tasks",
                "permissions": [
                    ("requeue_task", "Can requeue tasks"),
                    ("purge_task", "Can purge tasks"),
                    ("cancel_task", "Can cancel tasks"),
                ],
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
