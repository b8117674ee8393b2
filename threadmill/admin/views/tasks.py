"""Task pages: a page of one queue's tasks of one state (or its retrying tasks), searched by
a filter given as GET parameters (see `threadmill.filters`), one task's detail (with its
retry limit when its policy is a `Backoff`), jump to an id."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import TaskRecord, TaskState
from threadmill.backends.search_records import PREFIX_SCAN, IdSearch, TaskFilter
from threadmill.exceptions import ThreadmillError
from threadmill.filters import FILTER_PARAMS, describe, parse_filter
from threadmill.retry import Backoff
from threadmill.task import task_retry
from threadmill.task_codec import resolve_task

from .common import (
    BATCH_CANCELLABLE,
    BATCH_REQUEUEABLE,
    CANCELLABLE,
    MAX_PAGE_SIZE,
    PERM_CANCEL,
    PERM_PURGE,
    PERM_REQUEUE,
    PERM_VIEW,
    PURGEABLE,
    REQUEUEABLE,
    admin_setting,
    get_backend,
    int_param,
    is_htmx,
    list_url,
    page_context,
    parse_set,
    render_live,
    require,
    safe_next,
    set_label,
    task_url,
    url,
)

#: Fewest characters "Go to task id" searches ids by (the dashboard prints 12).
MIN_PREFIX = 4
#: Pages of more rows than this repeat the action bar above the list.
LONG_LIST = 20


def _page_links(
    request: HttpRequest, offset: int, limit: int, total: int, next_offset: int | None = None
) -> dict[str, str]:
    """Query strings of the first / previous / next / last pages (keeping other params).
    A name-filtered page (`next_offset` given) only goes forward, from where it stopped."""

    def at(new_offset: int) -> str:
        params = request.GET.copy()
        params["offset"], params["limit"] = str(new_offset), str(limit)
        return "?" + params.urlencode()

    links = {}
    if next_offset is not None:
        if offset > 0:
            links["first"] = at(0)
        if next_offset < total:
            links["next"] = at(next_offset)
        return links
    if offset > 0:
        links["first"] = at(0)
        links["previous"] = at(max(0, offset - limit))
    if offset + limit < total:
        links["next"] = at(offset + limit)
        links["last"] = at(max(0, (total - 1) // limit * limit))
    return links


def _search_query(request: HttpRequest) -> str:
    """The search's GET parameters alone (no offset or limit), for links that keep it."""
    params = QueryDict(mutable=True)
    for name in (*FILTER_PARAMS, "name"):
        value = request.GET.get(name, "").strip()
        if value:
            params[name] = value
    return params.urlencode()


def _page_errors(items: list[TaskRecord]) -> list[tuple[str, str, int]]:
    """(class path, name, count) of the last errors of a page's tasks, most frequent first."""
    counts = Counter(t.last_error.exception_class_path for t in items if t.last_error)
    return [(path, path.rsplit(".", 1)[-1], n) for path, n in counts.most_common()]


def task_list(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, queue: str, state: str
) -> TemplateResponse:
    """A page of one queue's tasks of one state, or of its retrying tasks (`retrying` in
    the URL: the deferred tasks waiting for another attempt), searched by the filter in
    its GET parameters (each page examines the SEARCH_SCAN setting's positions at most)."""
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    task_state, retrying = parse_set(state)
    offset = int_param(request, "offset", 0, 0, 10**12)
    limit = int_param(request, "limit", int(admin_setting("PAGE_SIZE")), 1, MAX_PAGE_SIZE)
    filter_error = ""
    try:
        flt = parse_filter(request.GET)
    except ValueError as exc:
        filter_error, flt = str(exc), TaskFilter()
    search = {p: request.GET.get(p, "").strip() for p in FILTER_PARAMS}
    search["task"] = search["task"] or request.GET.get("name", "").strip()
    user = request.user
    offers = {
        "offers_requeue": task_state in REQUEUEABLE,
        "offers_run_now": task_state == TaskState.DEFERRED,
        "offers_purge": task_state in PURGEABLE,
        "offers_cancel": task_state in CANCELLABLE,
        "offers_requeue_all": task_state in BATCH_REQUEUEABLE,
        "offers_purge_all": task_state in PURGEABLE and not retrying,
        "offers_cancel_all": task_state in BATCH_CANCELLABLE,
    }
    query = _search_query(request)
    scan = max(1, int(admin_setting("SEARCH_SCAN")))
    context: dict[str, Any] = {
        "search": search,
        "filter": flt,
        "filter_words": describe(flt),
        "filter_error": filter_error,
        "search_query": query,
        "search_scan": scan,
        "alias": alias,
        "queue": queue,
        "state": task_state,
        "retrying": retrying,
        "label": set_label(task_state, retrying),
        "offset": offset,
        "limit": limit,
        "page": None,
        "stats": None,
        "error": "",
        "queues": [],
        "list_url": list_url(alias, queue, task_state, retrying),
        "shows_errors": task_state == TaskState.FAILED or retrying,
        **offers,
    }
    try:
        names = backend.queue_names()
        if queue not in names:
            raise Http404(f"No queue {queue!r} in backend {alias!r}.")
        context["queues"] = names
        context["stats"] = backend.queue_stats([queue])[0]
        if not filter_error:
            page = backend.list_tasks(
                queue, task_state, offset, limit, retrying=retrying, filter=flt, scan=scan
            )
            context["page"] = page
            context["links"] = _page_links(request, offset, limit, page.total, page.next_offset)
            context["first_row"] = offset + 1 if page.items else 0
            context["last_row"] = offset + len(page.items)
            context["examined_from"] = min(offset + 1, page.total)
            context["long_list"] = len(page.items) > LONG_LIST
            context["page_errors"] = _page_errors(page.items) if context["shows_errors"] else []
            if task_state == TaskState.FAILED and request.GET.get("group") == "error":
                context["error_classes"] = backend.error_groups(queue, task_state, scan)
            context["selectable"] = bool(page.items) and (
                (offers["offers_requeue"] and user.has_perm(PERM_REQUEUE))
                or (offers["offers_run_now"] and user.has_perm(PERM_REQUEUE))
                or (offers["offers_purge"] and user.has_perm(PERM_PURGE))
                or (offers["offers_cancel"] and user.has_perm(PERM_CANCEL))
            )
    except ThreadmillError as exc:
        context["error"] = str(exc)
    title = f"{context['label'].capitalize()} tasks of queue “{queue}”"
    return render_live(
        request,
        "threadmill/task_list.html",
        page_context(request, model_admin, title, **context),
    )


def _pretty_fields(record: TaskRecord) -> list[tuple[str, Any, bool]]:
    """(label, value, is_raw) of args, kwargs and result; raw when it was not JSON."""
    fields = []
    for name, label in (("args", "Arguments"), ("kwargs", "Keyword arguments")):
        fields.append(
            (label, getattr(record, name), f"{name} is not valid JSON" in record.problems)
        )
    if record.state == TaskState.SUCCESSFUL or record.result is not None:
        raw = "result is not valid JSON" in record.problems
        fields.append(("Return value", record.result, raw))
    return fields


def attempt_limit(backend: ThreadmillBackend, record: TaskRecord) -> int | None:
    """The attempts a task gets in all when its retry policy is a `Backoff` (its own, else
    the alias's default), or None: no policy, another kind, or its code cannot be found."""
    try:
        task = resolve_task(record.path, backend.alias, record.priority, record.queue, None)
        policy = task_retry(task, backend.config.retry_policy())
    except Exception:  # renamed in a deploy, invalid now, ...: the page shows the count
        return None
    return policy.max_attempts if isinstance(policy, Backoff) else None


def task_detail(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, task_id: str
) -> TemplateResponse:
    require(request, PERM_VIEW)
    backend: ThreadmillBackend = get_backend(alias)
    context: dict[str, Any] = {"alias": alias, "task_id": task_id, "task": None, "error": ""}
    status = 200
    try:
        record = backend.get_task(task_id)
    except ThreadmillError as exc:
        context["error"] = str(exc)
    else:
        if record is None:
            status = 200 if is_htmx(request) else 404  # htmx swaps 200s only: polling ends
        else:
            context["task"] = record
            context["fields"] = _pretty_fields(record)
            context["state"] = record.state
            context["can_be_requeued"] = record.state in REQUEUEABLE
            context["can_be_purged"] = record.state != TaskState.RUNNING
            context["can_be_cancelled"] = record.state in CANCELLABLE
            context["attempt_limit"] = attempt_limit(backend, record) if record.path else None
            context["lease_ttl"] = backend.config.lease_ttl
            if record.state is not None and record.queue:
                context["list_url"] = list_url(alias, record.queue, record.state)
    # A RUNNING task's page refreshes its live region until the task finishes.
    return render_live(
        request,
        "threadmill/task_detail.html",
        page_context(request, model_admin, f"Task {task_id}", **context),
        status=status,
    )


def jump(request: HttpRequest, model_admin: ModelAdmin, alias: str) -> HttpResponseRedirect:
    """The "go to task" box: the task's page (the whole id, or a unique first part of it,
    as `threadmill_top` prints), or back with a message saying why not."""
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    task_id = request.GET.get("id", "").strip()
    back = safe_next(request, request.GET.get("next"), url("changelist"))
    if not task_id:
        return HttpResponseRedirect(back)
    try:
        if backend.get_task(task_id) is not None:
            return HttpResponseRedirect(task_url(alias, task_id))
        search = backend.find_task_ids(task_id) if len(task_id) >= MIN_PREFIX else None
    except ThreadmillError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(back)
    if search is not None and len(search.matches) == 1:
        return HttpResponseRedirect(task_url(alias, search.matches[0]))
    messages.warning(request, _not_found(alias, task_id, search))
    return HttpResponseRedirect(back)


def _not_found(alias: str, task_id: str, search: IdSearch | None) -> str:
    """Why "Go to task id" found no single task."""
    if search is None:
        return (
            f"No task {task_id!r} in backend “{alias}” (purged, expired or mistyped). "
            f"To find a task by the start of its id, type at least {MIN_PREFIX} characters."
        )
    if search.matches:
        shown = ", ".join(search.matches)
        more = "" if search.complete else ", perhaps more"
        return (
            f"{task_id!r} is the start of several task ids in backend “{alias}” ({shown}"
            f"{more}): type more characters of the id."
        )
    if search.complete:
        return (
            f"No task {task_id!r} in backend “{alias}”, and no task id starts with it "
            f"(looked at all {search.total:,} tasks of its queues): purged, expired or "
            "mistyped."
        )
    return (
        f"No task {task_id!r} in backend “{alias}”, and no task id starts with it among "
        f"the {search.examined:,} of {search.total:,} tasks looked at (a search by the start "
        f"of an id looks at {PREFIX_SCAN:,} at most): paste the whole id."
    )


def change_redirect(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponseRedirect:
    """The admin's "change" URL of a Task (history links): the task's detail page."""
    from django.contrib.admin.utils import unquote

    from threadmill.models import Task

    require(request, PERM_VIEW)
    alias, task_id = Task.split_pk(unquote(object_id))
    if not task_id:
        raise Http404("Not a task reference.")
    get_backend(alias)
    return HttpResponseRedirect(task_url(alias, task_id))
