"""Recording operators' actions in the admin's history (`LogEntry`): who did what to how many.

Entries are written for an `Actor`: a Django user and the way they acted, the admin
(`admin_actor(request)`) or `manage.py threadmill_ctl --user NAME` (`ctl_actor`).
A requeue or a cancel is logged as a change and a purge as a deletion, one entry per task
the action actually touched (like Django's "delete selected"), so each task's entry links to
its page.
A whole-set action is a bulk job, carried out by the pools, which have no request user (and
whose master must not wait on a database): the job records who started it, and whoever
first sees it finished (the `threadmill_ctl` that carried it out, the job's page, the Bulk
jobs list) writes its one entry, dated when it finished (`log_job_once`; the backend hands
out that chance once, `claim_job_log`).
A schedule's pause or resume logs one change that links nowhere (a schedule is settings, not
a task); its *Run now* logs the addition of the task it enqueued, linking to that task.
Pausing or resuming a queue and a pool request log one entry each, naming the queue or
pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import router, transaction
from django.http import HttpRequest
from django.utils import timezone

from threadmill.backends.base import ThreadmillBackend
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
#: The history's message per (action, outcome) of a task the action touched, before
#: "through <the way>.".
LOGGED = {
    ("requeue", "requeued"): "Requeued",
    ("purge", "purged"): "Purged",
    ("cancel", "cancelled"): "Cancelled",
    ("cancel", "requested"): "Cancellation requested",
    ("terminate", "cancelled"): "Cancelled",
    ("terminate", "requested"): "Termination requested",
    ("run-now", "moved"): "Run now (moved to READY)",
}
ADMIN = "the Threadmill admin"


@dataclass(frozen=True)
class Actor:
    """Who the entries are written for: a Django user's pk, and the way they acted
    ("the Threadmill admin", "threadmill_ctl (ctl:ann@ops-1)")."""

    user_id: Any
    via: str


def admin_actor(request: HttpRequest) -> Actor:
    """The logged-in user of an admin request (the admin's views require one)."""
    user_id = request.user.pk
    if user_id is None:
        raise ValueError("Admin actions are logged for a logged-in user only.")
    return Actor(user_id, ADMIN)


def ctl_actor(username: str, who: str) -> Actor:
    """The Django user `username` acting through `threadmill_ctl` as `who`
    (ctl:<login>@<host>); LookupError naming the user when there is no such user."""
    user = (
        get_user_model()
        ._default_manager.filter(**{get_user_model().USERNAME_FIELD: username})
        .first()
    )
    if user is None:
        raise LookupError(f"no Django user named {username!r}")
    return Actor(user.pk, f"threadmill_ctl ({who})")


def log_tasks(actor: Actor, action: str, alias: str, outcomes: dict[str, str]) -> int:
    """One entry per task the action touched (by its outcome, task id -> outcome); returns
    how many were written."""
    written = 0
    for outcome in dict.fromkeys(outcomes.values()):
        done = LOGGED.get((action, outcome))
        if done is None:
            continue  # refused or missing: nothing happened to it
        ids = [task_id for task_id, o in outcomes.items() if o == outcome]
        refs = [Task.ref(alias, task_id, f"{task_id} (backend {alias})") for task_id in ids]
        message = f"{done} through {actor.via}."
        LogEntry.objects.log_actions(actor.user_id, refs, FLAGS[action], message)
        written += len(refs)
    return written


def log_operation(actor: Actor, label: str, done: str) -> None:
    """One entry for an operation on a queue or a pool (pause, resume, quiet, stop ...):
    `label` names what it acted on, `done` what was done ("Paused queue 'mail' ...")."""
    ref = Task(id=None)  # type: ignore[misc]  # no object: the entry links nowhere
    ref.label = label
    message = f"{done} through {actor.via}."
    LogEntry.objects.log_actions(actor.user_id, [ref], FLAGS["operation"], message)


def log_job(job: BulkJob, alias: str) -> bool:
    """One entry for a finished bulk job, dated when it finished, in the name of the Django
    user who started it (False when it was started without one, or that user is gone)."""
    if not job.user_id:
        return False
    user = get_user_model()._default_manager.filter(pk=job.user_id).first()
    if user is None:
        return False
    label = "retrying" if job.retrying else job.state.slug
    where = describe(job.filter)
    status = "done" if job.status == JobStatus.DONE else f"cancelled by {job.cancelled_by}"
    LogEntry.objects.create(
        action_time=job.finished_at or timezone.now(),
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(Task, for_concrete_model=False),
        object_id=None,  # no object: the entry links nowhere
        object_repr=f"{label} tasks of queue {job.queue} (backend {alias})"[:200],
        action_flag=FLAGS[job.action],
        change_message=f"{VERBS[job.action]} {job.acted} {label} tasks of queue {job.queue!r} "
        f"(backend {alias!r}){' where ' + where if where else ''} by bulk job {job.id} "
        f"started by {job.who} ({status}; {job.examined} examined, {job.refused} refused).",
    )
    return True


class _Taken(Exception):
    """Another process has claimed the job's entry: roll this one back."""


def log_job_once(backend: ThreadmillBackend, job: BulkJob) -> bool:
    """Write a finished job's entry unless another process has (True when this call did).

    At most once: the entry is written in a transaction on the history's database that
    commits only once this process has won Redis's claim (`claim_job_log`), so two writers
    never both commit and a write that fails leaves the claim to the next one. (A commit
    that fails after the claim was won leaves the job without an entry.) A job whose user
    is gone is claimed without an entry, so that nobody tries again."""
    if not job.status.finished or job.logged or not job.user_id:
        return False
    try:
        with transaction.atomic(using=router.db_for_write(LogEntry)):
            written = log_job(job, backend.alias)
            if not backend.claim_job_log(job.id):
                raise _Taken
    except _Taken:
        return False
    return written


def log_schedule(actor: Actor, action: str, alias: str, name: str, task_id: str = "") -> None:
    """One entry for an action on a periodic schedule: "pause", "resume" (a change of the
    schedule) or "run" (the addition of task_id, the run it enqueued)."""
    where = f"schedule {name!r} (backend {alias!r})"
    if action == "run":
        ref = Task.ref(alias, task_id, f"{task_id} (run now of {where})")
        message, flag = f"Ran {where} now through {actor.via}.", ADDITION
    else:
        ref = Task(id=None)  # type: ignore[misc]  # a schedule is no task: links nowhere
        ref.label = where
        verb = "Paused" if action == "pause" else "Resumed"
        message, flag = f"{verb} {where} through {actor.via}.", CHANGE
    LogEntry.objects.log_actions(actor.user_id, [ref], flag, message)
