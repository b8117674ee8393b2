"""The Threadmill pages of the Django admin, registered under "Threadmill" on its index.

`TaskAdmin` is the admin of the unmanaged `Task` model; it replaces the model admin's URLs
with the Threadmill views (overview, task lists and search, task detail, workers, schedules, run
metrics, bulk jobs, actions:
requeue, purge, cancel, terminate and run now; pause, resume and run a schedule;
operations: pause / resume a queue, pool requests), each wrapped by
`views.access.admin_view`: the admin's `admin_view` (login, staff, CSRF, no caching), a
styled 403 page naming a missing permission, `HX-Refresh` for a live refresh whose session
ended, short-timeout reads.

Everything only the admin uses sits in this package: `views/` (the pages), `forms` (the
actions' forms), `outcomes` (what an action will do and did, in words) and `history` (the
admin's LogEntry records). The template filters stay in `threadmill/templatetags/`, where
Django looks for them, and the templates in `threadmill/templates/threadmill/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path

from threadmill.admin.views import (
    access,
    actions,
    jobs,
    metrics,
    operations,
    overview,
    schedules,
    tasks,
    workers,
)
from threadmill.admin.views.common import PERM_VIEW
from threadmill.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Read-only pages over Redis, with requeue, purge, cancel and terminate actions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(PERM_VIEW)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"

        def view(func: Callable) -> Callable:
            return access.admin_view(self, func)

        return [
            path("", view(overview.overview), name=f"{name}_changelist"),
            path("<str:alias>/workers/", view(workers.workers), name=f"{name}_workers"),
            path(
                "<str:alias>/schedules/", view(schedules.schedules_page), name=f"{name}_schedules"
            ),
            path(
                "<str:alias>/schedules/<str:action>/",
                view(schedules.schedule_action),
                name=f"{name}_schedule_action",
            ),
            path(
                "<str:alias>/pools/<str:pool_id>/<str:action>/",
                view(operations.pool_action),
                name=f"{name}_pool_action",
            ),
            path(
                "<str:alias>/queue-switch/<path:queue>/<str:action>/",
                view(operations.queue_switch),
                name=f"{name}_queue_switch",
            ),
            path("<str:alias>/metrics/", view(metrics.metrics_page), name=f"{name}_metrics"),
            path(
                "<str:alias>/metrics/<str:task_path>/",
                view(metrics.task_metrics_page),
                name=f"{name}_task_metrics",
            ),
            path("<str:alias>/jump/", view(tasks.jump), name=f"{name}_jump"),
            path("<str:alias>/jobs/", view(jobs.jobs_list), name=f"{name}_jobs"),
            path("<str:alias>/jobs/<str:job_id>/", view(jobs.job_detail), name=f"{name}_job"),
            path(
                "<str:alias>/jobs/<str:job_id>/cancel/",
                view(jobs.job_cancel),
                name=f"{name}_job_cancel",
            ),
            path(
                "<str:alias>/tasks/<path:task_id>/",
                view(tasks.task_detail),
                name=f"{name}_detail",
            ),
            path(
                "<str:alias>/selected/<str:action>/",
                view(actions.selection_action),
                name=f"{name}_selection",
            ),
            path(
                "<str:alias>/queues/<path:queue>/<str:state>/all/<str:action>/",
                view(actions.batch_action),
                name=f"{name}_batch",
            ),
            path(
                "<str:alias>/queues/<path:queue>/<str:state>/",
                view(tasks.task_list),
                name=f"{name}_list",
            ),
            path("<path:object_id>/change/", view(tasks.change_redirect), name=f"{name}_change"),
        ]
