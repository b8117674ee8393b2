"""What every Threadmill admin view shares: the backend of an alias, the admin settings,
permissions, the page context and safe redirects.

Settings (all optional), under `THREADMILL_ADMIN` in Django's settings:

* `REFRESH_SECONDS` (5): how often live regions refresh; a page's `?refresh=N` overrides it
  for that page (0 turns live refresh off);
* `PAGE_SIZE` (50): tasks per list page (`?limit=` picks another, at most `MAX_PAGE_SIZE`);
* `SEARCH_SCAN` (10,000): tasks of a list one page of a search looks at, at most (what
  bounds its cost); the page then offers to continue from where it stopped.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.tasks import task_backends
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import SEARCH_SCAN

PERM_VIEW = "threadmill.view_task"
PERM_REQUEUE = "threadmill.requeue_task"
PERM_PURGE = "threadmill.purge_task"
PERM_CANCEL = "threadmill.cancel_task"
PERM_SCHEDULES = "threadmill.manage_schedules"
PERM_PAUSE_QUEUE = "threadmill.pause_queue"
PERM_POOLS = "threadmill.manage_pools"

#: id of the element that live refresh replaces (see static/threadmill/live.js).
LIVE_TARGET = "tm-live"
MAX_PAGE_SIZE = 200
#: Most task ids one "selected tasks" action takes (a list page holds at most MAX_PAGE_SIZE).
MAX_SELECTION = 500

DEFAULTS: dict[str, Any] = {"REFRESH_SECONDS": 5.0, "PAGE_SIZE": 50, "SEARCH_SCAN": SEARCH_SCAN}

#: States in the order the pages show them.
STATES = [
    TaskState.READY,
    TaskState.DEFERRED,
    TaskState.RUNNING,
    TaskState.FAILED,
    TaskState.SUCCESSFUL,
]
PURGEABLE = {TaskState.READY, TaskState.DEFERRED, TaskState.FAILED, TaskState.SUCCESSFUL}
REQUEUEABLE = {TaskState.FAILED, TaskState.SUCCESSFUL}
#: Whole-set requeue is offered for failed tasks only (re-running successful tasks in bulk
#: is rarely what anyone wants; one can still requeue selected successful tasks).
BATCH_REQUEUEABLE = {TaskState.FAILED}
#: Cancel: a queued task ends FAILED at once, a running one gets a request.
CANCELLABLE = {TaskState.READY, TaskState.DEFERRED, TaskState.RUNNING}
#: Whole-set cancel: queued tasks only (a request leaves a running task in its set).
BATCH_CANCELLABLE = {TaskState.READY, TaskState.DEFERRED}
#: The list of retrying tasks: in URLs where a state's slug goes (a subset of deferred).
RETRYING = "retrying"


def admin_setting(name: str) -> Any:
    return getattr(settings, "THREADMILL_ADMIN", {}).get(name, DEFAULTS[name])


def threadmill_aliases() -> list[str]:
    """Every alias of TASKS whose backend is a Threadmill backend, in settings order."""
    return [
        alias
        for alias in task_backends.settings
        if isinstance(task_backends[alias], ThreadmillBackend)
    ]


def get_backend(alias: str) -> ThreadmillBackend:
    """The Threadmill backend of alias, or 404."""
    if alias not in task_backends.settings:
        raise Http404(f"No task backend {alias!r}.")
    backend = task_backends[alias]
    if not isinstance(backend, ThreadmillBackend):
        raise Http404(f"The task backend {alias!r} is not a Threadmill backend.")
    return backend


def parse_state(value: str) -> TaskState:
    """A state from its URL form (`failed`), or 404."""
    try:
        return TaskState(value.upper())
    except ValueError:
        raise Http404(f"Unknown task state {value!r}.") from None


def parse_set(value: str) -> tuple[TaskState, bool]:
    """A list's state and whether it is the retrying subset, from its URL form (`failed`,
    `retrying`), or 404."""
    if value == RETRYING:
        return TaskState.DEFERRED, True
    return parse_state(value), False


def set_label(state: TaskState, retrying: bool = False) -> str:
    """How pages name a list: `failed`, `deferred`, `retrying`."""
    return RETRYING if retrying else state.slug


def who(request: HttpRequest) -> str:
    """Who acts, as a cancellation records it: `admin:<username>`."""
    return f"admin:{request.user.get_username()}"


class MissingPermission(PermissionDenied):
    """The user lacks `missing` (full names, `threadmill.view_task`): the admin shows its
    403 page naming them (`access.forbidden`)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"Missing permission(s): {', '.join(missing)}.")
        self.missing = missing


def require(request: HttpRequest, *perms: str) -> None:
    """403 (the admin's page naming what is missing) unless the user has every permission."""
    missing = [perm for perm in perms if not request.user.has_perm(perm)]
    if missing:
        raise MissingPermission(missing)


def refresh_seconds(request: HttpRequest) -> float:
    """Live refresh interval of this page: `?refresh=` (0 = off, at most an hour) or the
    REFRESH_SECONDS setting."""
    raw = request.GET.get("refresh")
    try:
        value = float(raw) if raw is not None else float(admin_setting("REFRESH_SECONDS"))
    except ValueError:
        value = float(admin_setting("REFRESH_SECONDS"))
    return min(max(value, 0.0), 3600.0) if value == value else 0.0  # NaN -> off


def int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.GET.get(name, default))
    except (TypeError, ValueError):
        value = default
    return min(max(value, low), high)


def safe_next(request: HttpRequest, candidate: str | None, fallback: str) -> str:
    """candidate if it is a local URL, else fallback (never an open redirect)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:threadmill_task_{name}", args=args)


def list_url(alias: str, queue: str, state: TaskState, retrying: bool = False) -> str:
    return url("list", alias, queue, set_label(state, retrying))


def task_url(alias: str, task_id: str) -> str:
    return url("detail", alias, task_id)


def page_context(
    request: HttpRequest, model_admin: ModelAdmin, title: str, **extra: Any
) -> dict[str, Any]:
    """The admin's context (site header, sidebar, user links) plus Threadmill's own."""
    user = request.user
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        "title": title,
        "refresh_seconds": refresh_seconds(request),
        "can_requeue": user.has_perm(PERM_REQUEUE),
        "can_purge": user.has_perm(PERM_PURGE),
        "can_cancel": user.has_perm(PERM_CANCEL),
        "can_manage_schedules": user.has_perm(PERM_SCHEDULES),
        "can_pause_queue": user.has_perm(PERM_PAUSE_QUEUE),
        "can_manage_pools": user.has_perm(PERM_POOLS),
        "states": STATES,
        **extra,
    }


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent this request (django-htmx's middleware tells)."""
    return bool(getattr(request, "htmx", False))


def render_live(
    request: HttpRequest, template_name: str, context: dict[str, Any], status: int = 200
) -> TemplateResponse:
    """The whole page, or only its `live` partial when htmx refreshes the live region."""
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == LIVE_TARGET:
        template_name = f"{template_name}#live"
    return TemplateResponse(request, template_name, context, status=status)
