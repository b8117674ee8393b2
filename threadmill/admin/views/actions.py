"""Requeue, purge, cancel (or terminate) and run now: the selected tasks (or one), and whole
sets (all tasks of a list, or those matching its search) as bulk jobs.

Every action is a POST (CSRF-protected by the admin) that first shows a confirmation page
saying what will happen to how many tasks. For selected tasks the confirmed POST does it,
reports per-outcome counts with Django messages and records it in the admin's history; for
a whole set it records a bulk job that the pools carry out (see `views/jobs.py`), whose
audit entry is written when it has finished.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse

from threadmill.admin.forms import SelectionForm
from threadmill.admin.history import admin_actor, log_tasks
from threadmill.admin.outcomes import ACTED, outcome_messages, plural, predict
from threadmill.backends.records import TaskState
from threadmill.exceptions import ThreadmillError
from threadmill.filters import describe, filter_params, parse_filter

from .common import (
    BATCH_CANCELLABLE,
    BATCH_REQUEUEABLE,
    PERM_CANCEL,
    PERM_PURGE,
    PERM_REQUEUE,
    PERM_VIEW,
    PURGEABLE,
    get_backend,
    list_url,
    page_context,
    parse_set,
    require,
    safe_next,
    set_label,
    url,
    who,
)

PERMS = {
    "requeue": PERM_REQUEUE,
    "purge": PERM_PURGE,
    "cancel": PERM_CANCEL,
    "terminate": PERM_CANCEL,
    "run-now": PERM_REQUEUE,
}
VERBS = {
    "requeue": "Requeue",
    "purge": "Purge",
    "cancel": "Cancel",
    "terminate": "Terminate",
    "run-now": "Run now",
}
DONE_VERBS = {"requeue": "Requeued", "purge": "Purged", "cancel": "Cancelled"}
#: The whole sets each action may be run on.
BATCH_SETS = {"requeue": BATCH_REQUEUEABLE, "purge": PURGEABLE, "cancel": BATCH_CANCELLABLE}


def selection_action(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, action: str
) -> HttpResponse:
    """Requeue, purge, cancel or terminate the given ids: confirmation page, then
    (confirmed POST) the action."""
    if action not in PERMS:
        raise Http404(f"Unknown action {action!r}.")
    require(request, PERM_VIEW, PERMS[action])
    backend = get_backend(alias)
    data = request.POST if request.method == "POST" else request.GET
    form = SelectionForm(data)
    back = safe_next(request, data.get("next"), url("changelist"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.warning(request, str(error))
        return HttpResponseRedirect(back)
    ids: list[str] = form.cleaned_data["ids"]
    if request.method == "POST" and form.cleaned_data["confirmed"]:
        return _execute(request, action, alias, ids, form.cleaned_data["queue"], back)
    context: dict[str, Any] = {
        "alias": alias,
        "action": action,
        "ids": ids,
        "queue": form.cleaned_data["queue"],
        "next": back,
        "error": "",
    }
    try:
        rows = [(task_id, backend.get_task(task_id)) for task_id in ids]
    except ThreadmillError as exc:
        context["error"] = str(exc)
    else:
        context["rows"] = [(task_id, rec, predict(action, rec)) for task_id, rec in rows]
        context["predicted"] = outcome_messages(
            action, {task_id: predict(action, rec) for task_id, rec in rows}
        )
        context["will_act"] = sum(1 for *_, p in context["rows"] if p in ACTED[action])
    title = f"{VERBS[action]} {plural(len(ids))}?"
    return TemplateResponse(
        request, "threadmill/confirm.html", page_context(request, model_admin, title, **context)
    )


def _execute(
    request: HttpRequest, action: str, alias: str, ids: list[str], queue: str, back: str
) -> HttpResponseRedirect:
    backend = get_backend(alias)
    try:
        if action == "requeue":
            outcomes = backend.requeue(ids)
        elif action == "purge":
            outcomes = backend.purge(ids, queue)
        elif action == "run-now":
            outcomes = backend.run_now(ids)
        else:
            outcomes = backend.cancel(ids, who=who(request), terminate=action == "terminate")
    except ThreadmillError as exc:
        messages.error(
            request,
            f"The {action} did not complete: {exc} Tasks processed before the error stay "
            "processed; reload the list to see where things are.",
        )
        return HttpResponseRedirect(back)
    log_tasks(admin_actor(request), action, alias, outcomes)
    for level, text in outcome_messages(action, outcomes):
        messages.add_message(request, level, text)
    return HttpResponseRedirect(back)


def _refusal(action: str, state: TaskState, retrying: bool) -> str:
    """Why a whole-set action is not offered for a set."""
    if action == "cancel":
        if state == TaskState.RUNNING:
            return (
                "Running tasks cannot be cancelled as a whole set: select them on the list "
                "(each gets a cancellation request), or cancel them one by one."
            )
        return f"{state.value} tasks are finished: there is nothing to cancel."
    if retrying:
        return (
            "Retrying tasks can only be cancelled as a whole set; purge selected ones from "
            "the list, or purge all deferred tasks."
        )
    if state == TaskState.RUNNING:
        return (
            "Running tasks cannot be purged or requeued: a worker holds them. Wait for "
            "them to finish, or stop the pool (its running tasks are then requeued)."
        )
    return f"{state.value} tasks cannot be requeued as a whole set."


def batch_action(
    request: HttpRequest,
    model_admin: ModelAdmin,
    alias: str,
    queue: str,
    state: str,
    action: str,
) -> HttpResponse:
    """Requeue all failed / purge all tasks of a state / cancel all queued tasks of a state
    (or the retrying ones) of a queue, all of them or those matching the list's search:
    a confirmation page, then (confirmed POST) a bulk job that the pools carry out; the
    answer is the job's page."""
    if action not in BATCH_SETS:
        raise Http404(f"Unknown action {action!r}.")
    require(request, PERM_VIEW, PERMS[action])
    backend = get_backend(alias)
    task_state, retrying = parse_set(state)
    back = list_url(alias, queue, task_state, retrying)
    if task_state not in BATCH_SETS[action] or (retrying and action != "cancel"):
        messages.error(request, _refusal(action, task_state, retrying))
        return HttpResponseRedirect(back)
    data = request.POST if request.method == "POST" else request.GET
    try:
        flt = parse_filter(data)
    except ValueError as exc:
        messages.error(request, f"The search is not valid, nothing was done: {exc}")
        return HttpResponseRedirect(back)
    query = QueryDict(mutable=True)
    query.update(filter_params(flt))
    if query:
        back = f"{back}?{query.urlencode()}"
    if request.method == "POST":
        if data.get("confirmed") != "1":
            messages.error(request, "The form was incomplete: nothing was done.")
            return HttpResponseRedirect(request.path)
        try:
            job = backend.create_job(
                action,
                queue,
                task_state,
                flt,
                who=who(request),
                user_id=str(request.user.pk),
                retrying=retrying,
            )
        except ThreadmillError as exc:
            messages.error(request, f"The job could not be recorded: {exc} Nothing was done.")
            return HttpResponseRedirect(back)
        messages.success(
            request,
            "The job is recorded; the pools carry it out in chunks. You may leave this page.",
        )
        return HttpResponseRedirect(url("job", alias, job.id))

    label = set_label(task_state, retrying)
    context: dict[str, Any] = {
        "alias": alias,
        "queue": queue,
        "state": task_state,
        "label": label,
        "action": action,
        "back": back,
        "batch_size": backend.config.batch_size,
        "filter": flt,
        "filter_words": describe(flt),
        "filter_fields": filter_params(flt),
        "error": "",
        "count": 0,
    }
    try:
        stats = backend.queue_stats([queue])[0]
        context["count"] = stats.retrying if retrying else stats.count(task_state)
    except ThreadmillError as exc:
        context["error"] = str(exc)
    which = "matching" if flt else "all"
    title = f"{VERBS[action]} {which} {label} tasks of queue “{queue}”?"
    return TemplateResponse(
        request, "threadmill/batch.html", page_context(request, model_admin, title, **context)
    )
