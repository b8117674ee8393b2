"""Recording admin actions in the admin's history (`LogEntry`): who did what to how many.

A requeue or a cancel is logged as a change and a purge as a deletion, one entry per task
the action actually touched (like Django's "delete selected"), so each task's entry links to
its page.
A whole-set action is a bulk job, carried out by the pools, which have no request user: the
job records who started it, and the admin writes its one entry once it sees the job
finished (`log_job`; the backend hands out that chance once, `claim_job_log`).
A schedule's pause or resume logs one change that links nowhere (a schedule is settings, not
a task); its *Run now* logs the addition of the task it enqueued, linking to that task.
Pausing or resuming a queue and a pool request log one entry each, naming the queue or
pool.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from threadmill.backends.job_records import BulkJob, JobStatus
from threadmill.filters import describe
from threadmill.models import Task

FLAGS = {
    "requeue": CHANGE,
    "purge": DELETION,
    "cancel": CHANGE,
    "terminate": CHANGE,
    "run-now": CHANGE,
    "operation": CHANGE,
}
VERBS = {"requeue": "Requeued", "purge": "Purged", "cancel": "Cancelled"}
#: The history's message per (action, outcome) of a task the action touched.
LOGGED = {
    ("requeue", "requeued"): "Requeued through the Threadmill admin.",
    ("purge", "purged"): "Purged through the Threadmill admin.",
    ("cancel", "cancelled"): "Cancelled through the Threadmill admin.",
    ("cancel", "requested"): "Cancellation requested through the Threadmill admin.",
    ("terminate", "cancelled"): "Cancelled through the Threadmill admin.",
    ("terminate", "requested"): "Termination requested through the Threadmill admin.",
    ("run-now", "moved"): "Run now (moved to READY) through the Threadmill admin.",
}


def _user_id(request: HttpRequest) -> Any:
    """The acting user's pk (the admin's views require a logged-in staff user)."""
    user_id = request.user.pk
    if user_id is None:
        raise ValueError("Admin actions are logged for a logged-in user only.")
    return user_id


def log_tasks(request: HttpRequest, action: str, alias: str, outcomes: dict[str, str]) -> int:
    """One entry per task the action touched (by its outcome, task id -> outcome); returns
    how many were written."""
    written = 0
    for outcome in dict.fromkeys(outcomes.values()):
        message = LOGGED.get((action, outcome))
        if message is None:
            continue  # refused or missing: nothing happened to it
        ids = [task_id for task_id, o in outcomes.items() if o == outcome]
        refs = [Task.ref(alias, task_id, f"{task_id} (backend {alias})") for task_id in ids]
        LogEntry.objects.log_actions(_user_id(request), refs, FLAGS[action], message)
        written += len(refs)
    return written


def log_operation(request: HttpRequest, label: str, message: str) -> None:
    """One entry for an operation on a queue or a pool (pause, resume, quiet, stop ...):
    `label` names what it acted on, `message` what was done."""
    ref = Task(id=None)  # type: ignore[misc]  # no object: the entry links nowhere
    ref.label = label
    LogEntry.objects.log_actions(_user_id(request), [ref], FLAGS["operation"], message)


def log_job(job: BulkJob, alias: str) -> bool:
    """One entry for a finished bulk job, in the name of the admin user who started it
    (False when it was not started in the admin, or that user is gone)."""
    if not job.user_id:
        return False
    user = get_user_model()._default_manager.filter(pk=job.user_id).first()
    if user is None:
        return False
    ref = Task(id=None)  # type: ignore[misc]  # no object: the entry links nowhere
    label = "retrying" if job.retrying else job.state.slug
    ref.label = f"{label} tasks of queue {job.queue} (backend {alias})"
    where = describe(job.filter)
    status = "done" if job.status == JobStatus.DONE else f"cancelled by {job.cancelled_by}"
    LogEntry.objects.log_actions(
        user.pk,
        [ref],
        FLAGS[job.action],
        f"{VERBS[job.action]} {job.acted} {label} tasks of queue {job.queue!r} (backend "
        f"{alias!r}){' where ' + where if where else ''} by bulk job {job.id} ({status}; "
        f"{job.examined} examined, {job.refused} refused).",
    )
    return True


def log_schedule(
    request: HttpRequest, action: str, alias: str, name: str, task_id: str = ""
) -> None:
    """One entry for an action on a periodic schedule: "pause", "resume" (a change of the
    schedule) or "run" (the addition of task_id, the run it enqueued)."""
    where = f"schedule {name!r} (backend {alias!r})"
    if action == "run":
        ref = Task.ref(alias, task_id, f"{task_id} (run now of {where})")
        message, flag = f"Ran {where} now through the Threadmill admin.", ADDITION
    else:
        ref = Task(id=None)  # type: ignore[misc]  # a schedule is no task: links nowhere
        ref.label = where
        verb = "Paused" if action == "pause" else "Resumed"
        message, flag = f"{verb} {where} through the Threadmill admin.", CHANGE
    LogEntry.objects.log_actions(_user_id(request), [ref], flag, message)
