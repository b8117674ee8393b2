"""Requeue and purge: the selected tasks (or one), and whole sets in slices with progress.

Every action is a POST (CSRF-protected by the admin) that first shows a confirmation page
saying what will happen to how many tasks; the confirmed POST does it, reports per-outcome
counts with Django messages and records it in the admin's history.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django_htmx.http import HttpResponseClientRedirect

from threadmill.admin.bulk import run_slice
from threadmill.admin.forms import BatchForm, SelectionForm
from threadmill.admin.history import log_batch, log_tasks
from threadmill.backends.records import TaskRecord, TaskState
from threadmill.exceptions import ThreadmillError

from .common import (
    BATCH_REQUEUEABLE,
    PERM_PURGE,
    PERM_REQUEUE,
    PERM_VIEW,
    PURGEABLE,
    REQUEUEABLE,
    admin_setting,
    get_backend,
    is_htmx,
    list_url,
    page_context,
    parse_state,
    require,
    safe_next,
    url,
)

PERMS = {"requeue": PERM_REQUEUE, "purge": PERM_PURGE}
DONE = {"requeue": "requeued", "purge": "purged"}


def _plural(n: int, word: str = "task") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def predict(action: str, record: TaskRecord | None) -> str:
    """What the action will do to a task as it is now (the backend decides atomically)."""
    if record is None:
        return "missing"
    if action == "purge":
        return "RUNNING" if record.state == TaskState.RUNNING else "purged"
    if record.state in REQUEUEABLE and record.path:
        return "requeued"
    if record.state is None or not record.path:
        return "corrupt"
    return record.state.value


def outcome_messages(action: str, outcomes: dict[str, str]) -> list[tuple[int, str]]:
    """(message level, text) per outcome, counted: requeued, refused because RUNNING, ..."""
    counts = Counter(outcomes.values())
    found: list[tuple[int, str]] = []
    for outcome, n in sorted(counts.items(), key=lambda item: item[0] != DONE[action]):
        if outcome == "requeued":
            text = f"Requeued {_plural(n)}: back to READY, in priority order, id and history kept."
            found.append((messages.SUCCESS, text))
        elif outcome == "purged":
            found.append((messages.SUCCESS, f"Purged {_plural(n)}: removed from Redis."))
        elif outcome == "RUNNING":
            found.append(
                (
                    messages.WARNING,
                    f"Refused {_plural(n)} because RUNNING: a worker holds "
                    f"{'it' if n == 1 else 'them'}. Wait until finished.",
                )
            )
        elif outcome == "missing":
            found.append((messages.WARNING, f"{_plural(n)} missing: already purged, or expired."))
        elif outcome == "corrupt":
            found.append(
                (
                    messages.WARNING,
                    f"Refused {_plural(n)} because the record is corrupt (no task path): "
                    "it cannot run; purge it instead.",
                )
            )
        else:
            found.append(
                (
                    messages.WARNING,
                    f"Refused {_plural(n)} because {outcome}: only FAILED or SUCCESSFUL tasks "
                    "can be requeued.",
                )
            )
    return found


def selection_action(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, action: str
) -> HttpResponse:
    """Requeue or purge the given ids: confirmation page, then (confirmed POST) the action."""
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
        context["will_act"] = sum(1 for *_, p in context["rows"] if p == DONE[action])
    verb = "Requeue" if action == "requeue" else "Purge"
    title = f"{verb} {_plural(len(ids))}?"
    return TemplateResponse(
        request, "threadmill/confirm.html", page_context(request, model_admin, title, **context)
    )


def _execute(
    request: HttpRequest, action: str, alias: str, ids: list[str], queue: str, back: str
) -> HttpResponseRedirect:
    backend = get_backend(alias)
    try:
        outcomes = backend.requeue(ids) if action == "requeue" else backend.purge(ids, queue)
    except ThreadmillError as exc:
        messages.error(
            request,
            f"The {action} did not complete: {exc} Tasks processed before the error stay "
            "processed; reload the list to see where things are.",
        )
        return HttpResponseRedirect(back)
    log_tasks(request, action, alias, [i for i, o in outcomes.items() if o == DONE[action]])
    for level, text in outcome_messages(action, outcomes):
        messages.add_message(request, level, text)
    return HttpResponseRedirect(back)


def batch_action(
    request: HttpRequest,
    model_admin: ModelAdmin,
    alias: str,
    queue: str,
    state: str,
    action: str,
) -> HttpResponse:
    """Requeue all failed / purge all tasks of a state of a queue, slice by slice."""
    if action not in PERMS:
        raise Http404(f"Unknown action {action!r}.")
    require(request, PERM_VIEW, PERMS[action])
    backend = get_backend(alias)
    task_state = parse_state(state)
    back = list_url(alias, queue, task_state)
    allowed = BATCH_REQUEUEABLE if action == "requeue" else PURGEABLE
    if task_state not in allowed:
        if task_state == TaskState.RUNNING:
            reason = (
                "Running tasks cannot be purged or requeued: a worker holds them. Wait for "
                "them to finish, or stop the pool (its running tasks are then requeued)."
            )
        else:
            reason = f"{task_state.value} tasks cannot be requeued as a whole set."
        messages.error(request, reason)
        return HttpResponseRedirect(back)
    if request.method == "POST":
        form = BatchForm(request.POST)
        if form.is_valid():
            return _run_batch(request, action, alias, queue, task_state, form, back)
        messages.error(request, "The form was incomplete: nothing was done.")
        return HttpResponseRedirect(request.path)

    context: dict[str, Any] = {
        "alias": alias,
        "queue": queue,
        "state": task_state,
        "action": action,
        "back": back,
        "batch_size": backend.config.batch_size,
        "error": "",
        "count": 0,
    }
    done = request.GET.get("done")
    try:
        context["count"] = backend.queue_stats([queue])[0].count(task_state)
    except ThreadmillError as exc:
        context["error"] = str(exc)
    if done is not None and done.isdigit():  # progress page between slices (no JavaScript)
        context["done"] = int(done)
        target = request.GET.get("target", "")
        context["target"] = int(target) if target.isdigit() else context["count"]
        context["in_progress"] = True
    else:
        context["done"] = 0
        context["target"] = context["count"]
        context["in_progress"] = False
    verb = "Requeue" if action == "requeue" else "Purge"
    title = f"{verb} all {task_state.value.lower()} tasks of queue “{queue}”?"
    return TemplateResponse(
        request, "threadmill/batch.html", page_context(request, model_admin, title, **context)
    )


def _run_batch(
    request: HttpRequest,
    action: str,
    alias: str,
    queue: str,
    state: TaskState,
    form: BatchForm,
    back: str,
) -> HttpResponse:
    backend = get_backend(alias)
    done_before = form.cleaned_data["done"] or 0
    target = form.cleaned_data["target"]
    finish = HttpResponseClientRedirect if is_htmx(request) else HttpResponseRedirect
    verb = "Requeued" if action == "requeue" else "Purged"
    what = f"{state.value.lower()} tasks of queue “{queue}”"
    if target - done_before <= 0:
        messages.success(request, f"{verb} {done_before:,} {what}.")
        return finish(back)
    try:
        piece = run_slice(
            backend,
            action,
            queue,
            state,
            limit=target - done_before,
            budget_seconds=float(admin_setting("BATCH_SECONDS")),
        )
    except ThreadmillError as exc:
        messages.error(
            request, f"Stopped after {done_before:,} {what}: {exc} Run it again to go on."
        )
        return finish(back)
    if piece.done:
        log_batch(request, action, alias, queue, state.value, piece.done, piece.remaining)
    done = done_before + piece.done
    if piece.finished or piece.stalled:
        messages.success(request, f"{verb} {done:,} {what}.")
        if piece.stalled:
            messages.warning(
                request,
                f"{piece.remaining:,} could not be requeued: their records are corrupt (no "
                "task path). Open them from the list, or purge them.",
            )
        elif piece.remaining:
            messages.info(
                request,
                f"{piece.remaining:,} more arrived meanwhile and were left as they are "
                f"(the action stops at the {target:,} announced).",
            )
        return finish(back)
    if is_htmx(request):
        context = {
            "alias": alias,
            "queue": queue,
            "state": state,
            "action": action,
            "back": back,
            "done": done,
            "target": target,
            "count": piece.remaining,
            "in_progress": True,
        }
        return TemplateResponse(request, "threadmill/batch.html#progress", context)
    progress = f"{request.path}?done={done}&target={target}"
    return HttpResponseRedirect(progress)
