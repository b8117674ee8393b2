"""The unmanaged `Task` model: the admin's handle on tasks that live in Redis, not in SQL.

It has no table (`managed = False`) and is never queried. It exists so that the admin can
list Threadmill on its index, so that permissions are ordinary Django permissions
(`threadmill.view_task`, `threadmill.requeue_task`, `threadmill.purge_task`,
`threadmill.cancel_task`, `threadmill.manage_schedules`, `threadmill.pause_queue`,
`threadmill.manage_pools`, grantable to users and groups), and so that the admin's history
(`LogEntry`) can name the tasks an action touched. Its primary key is
`"<backend alias>:<task id>"`.
"""

from __future__ import annotations

from django.db import models


class Task(models.Model):
    """A task of a Threadmill backend alias, as the admin's history and permissions see it."""

    id = models.CharField(primary_key=True, max_length=255)
    #: What the admin's history shows for this task (not a field: nothing is stored).
    label = ""

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [
            ("requeue_task", "Can requeue tasks"),
            ("purge_task", "Can purge tasks"),
            ("cancel_task", "Can cancel tasks"),
            ("manage_schedules", "Can pause, resume and run periodic schedules"),
            ("pause_queue", "Can pause and resume queues"),
            ("manage_pools", "Can quiet, resume, stop and resize worker pools"),
        ]
        verbose_name = "task"
        verbose_name_plural = "tasks"

    def __str__(self) -> str:
        return getattr(self, "label", "") or str(self.pk)

    @classmethod
    def ref(cls, alias: str, task_id: str, label: str = "") -> Task:
        """An unsaved instance naming one task of an alias (for LogEntry)."""
        obj = cls(id=f"{alias}:{task_id}")
        obj.label = label or task_id
        return obj

    @staticmethod
    def split_pk(pk: str) -> tuple[str, str]:
        """`"alias:task id"` -> (alias, task id); the alias is everything before the first ':'."""
        alias, _, task_id = pk.partition(":")
        return alias, task_id
