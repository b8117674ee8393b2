"""Permissions of the operations console: schedules, queue pause, pool controls."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("threadmill", "0002_cancel_permission"),
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
                    ("manage_schedules", "Can pause, resume and run periodic schedules"),
                    ("pause_queue", "Can pause and resume queues"),
                    ("manage_pools", "Can quiet, resume, stop and resize worker pools"),
                ],
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
