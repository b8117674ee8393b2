"""The schedules page of an alias: every periodic schedule of its settings (what it runs,
when, its next slot in its own time zone and the user's, paused or not, its last runs and
what `manage.py check` says of it), with the Pause, Resume and Run now actions.

The page reads `backend.schedule_report()` (two Redis round trips whatever the number of
schedules). Each action is a POST (CSRF-protected by the admin) that needs
`threadmill.manage_schedules`, is recorded in the admin's history and reports with a Django
message, then redirects back to the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.utils import timezone
from django.utils.html import format_html

from threadmill import schedules
from threadmill.admin.history import admin_actor, log_schedule
from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.schedule_records import ScheduleReport, ScheduleRun
from threadmill.exceptions import ThreadmillError

from .common import (
    PERM_SCHEDULES,
    PERM_VIEW,
    get_backend,
    int_param,
    page_context,
    render_live,
    require,
    safe_next,
    task_url,
    url,
)

#: Runs shown per schedule by default, and at most (`?runs=`; the backend keeps 20).
DEFAULT_RUNS, MAX_RUNS = 5, 20
ACTIONS = {"pause": "pause a schedule", "resume": "resume a schedule", "run": "run a schedule now"}
#: What each `how` of a run means, for the page's tooltips.
HOW = {
    "slot": "enqueued on its slot",
    "catch-up": "a slot missed while no pool ran, enqueued when one started (catch_up)",
    "now": "Run now (admin, command line or Python), whatever the slots and the pause",
    "paused": "not run: the schedule was paused",
    "overlap": "not run: its previous run was still queued or running (overlap False)",
    "skipped": "not run: missed while no pool ran (catch_up 'none')",
    "unique": "not enqueued: an equal unique task was live (the link is that task)",
}


@dataclass
class RunRow:
    """One of a schedule's last runs as the page shows it."""

    run: ScheduleRun
    slot_here: datetime | None  # the slot in the user's time zone
    link: str  # the task's detail page ('' when the slot did not run)
    meaning: str


@dataclass
class ScheduleRow:
    """One schedule as the page shows it."""

    report: ScheduleReport
    zone: str = ""  # the schedule's time zone
    next_there: datetime | None = None  # next slot in the schedule's time zone
    next_here: datetime | None = None  # next slot in the user's time zone
    skipped_last_here: datetime | None = None  # the newest skipped slot, in the user's zone
    runs: list[RunRow] = field(default_factory=list)
    more_runs: int = 0  # older runs kept in Redis but not shown


def _row(alias: str, report: ScheduleReport, here: tzinfo, limit: int) -> ScheduleRow:
    row = ScheduleRow(report)
    if report.entry is not None:
        row.zone = report.entry.timezone
        if report.next_slot is not None:
            row.next_there = report.next_slot.astimezone(report.entry.zone)
            row.next_here = report.next_slot.astimezone(here)
    runs = report.state.runs if report.state else []
    if report.state and report.state.skipped_last:
        row.skipped_last_here = report.state.skipped_last.astimezone(here)
    row.more_runs = max(len(runs) - limit, 0)
    for run in runs[:limit]:
        row.runs.append(
            RunRow(
                run,
                run.slot.astimezone(here) if run.slot else None,
                task_url(alias, run.task_id) if run.task_id else "",
                HOW.get(run.how, ""),
            )
        )
    return row


def schedules_page(request: HttpRequest, model_admin: ModelAdmin, alias: str) -> HttpResponse:
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    now = datetime.now(UTC)
    here = timezone.get_current_timezone()
    limit = int_param(request, "runs", DEFAULT_RUNS, 1, MAX_RUNS)
    context: dict[str, Any] = {
        "alias": alias,
        "rows": [],
        "error": "",
        "now": now,
        "user_zone": timezone.get_current_timezone_name(),
        "max_runs": MAX_RUNS,
    }
    try:
        reports = backend.schedule_report(now=now)
    except ThreadmillError as exc:
        context["error"] = str(exc)
    else:
        context["rows"] = [_row(alias, report, here, limit) for report in reports]
        context["paused_count"] = sum(1 for report in reports if report.paused)
        context["problem_count"] = sum(1 for report in reports if report.problem)
    title = f"Schedules of backend “{alias}”"
    return render_live(
        request,
        "threadmill/schedules.html",
        page_context(request, model_admin, title, **context),
    )


def schedule_action(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, action: str
) -> HttpResponse:
    """Pause, resume or run now (POST, `name` in the form) the named schedule of alias."""
    if action not in ACTIONS:
        raise Http404(f"Unknown schedule action {action!r}.")
    require(request, PERM_VIEW, PERM_SCHEDULES)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    backend = get_backend(alias)
    name = request.POST.get("name", "")
    back = safe_next(request, request.POST.get("next"), url("schedules", alias))
    entries, problems = backend.schedule_entries()
    entry = next((e for e in entries if e.name == name), None)
    if entry is None:
        problem = next((p for p in problems if p.name == name and name), None)
        if problem is not None:
            messages.error(
                request,
                f"Schedule “{name}” cannot be used: {problem.message} {problem.hint} "
                "Fix its entry in settings and restart the pools.",
            )
        else:
            messages.error(
                request,
                f"Backend “{alias}” has no schedule “{name}”: its settings "
                f"(TASKS['{alias}']['OPTIONS']['schedules']) do not name it.",
            )
        return HttpResponseRedirect(back)
    try:
        if action == "run":
            _run_now(request, backend, alias, entry)
        else:
            backend.pause_schedule(name, action == "pause")
            log_schedule(admin_actor(request), action, alias, name)
            messages.success(request, _paused_message(action, name))
    except ThreadmillError as exc:
        messages.error(request, f"Schedule “{name}” was not changed: {exc}")
    return HttpResponseRedirect(back)


def _paused_message(action: str, name: str) -> str:
    if action == "pause":
        return (
            f"Paused schedule “{name}”: its slots are skipped (and counted) until it is "
            "resumed. Run now still runs it."
        )
    return f"Resumed schedule “{name}”: it runs again from its next slot."


def _run_now(
    request: HttpRequest, backend: ThreadmillBackend, alias: str, entry: schedules.Schedule
) -> None:
    problem = schedules.task_problem(entry, alias)
    if problem is not None:
        messages.error(
            request,
            f"Schedule “{entry.name}” cannot run now: {problem.message} {problem.hint}",
        )
        return
    fired = backend.fire_schedule(entry, datetime.now(UTC), "now")
    if fired.outcome == "enqueued":
        log_schedule(admin_actor(request), "run", alias, entry.name, fired.task_id)
        messages.success(
            request,
            format_html(
                'Enqueued a run of schedule “{}” now: task <a href="{}">{}</a>.',
                entry.name,
                task_url(alias, fired.task_id),
                fired.task_id,
            ),
        )
    elif fired.outcome == "unique":
        messages.warning(
            request,
            format_html(
                "Schedule “{}” was not run: its task is unique and an equal task is still "
                'queued or running (<a href="{}">{}</a>).',
                entry.name,
                task_url(alias, fired.task_id),
                fired.task_id,
            ),
        )
    else:
        messages.warning(request, f"Schedule “{entry.name}” was not run ({fired.outcome}).")
