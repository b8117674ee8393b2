"""Recording operators' actions in the admin's history (`LogEntry`): who did what to how many.

Entries are written for an `Actor`: a Django user and the way they acted, the admin
(`admin_actor(request)`) or `manage.py threadmill_ctl --user NAME` (`ctl_actor`).
A requeue or a cancel is logged as a change and a purge as a deletion, one entry per task
the action actually touched (like Django's "delete selected"), so each task's entry links to
its page.
A whole-set action is a bulk job, carried out by the pools, which have no request user: the
job records who started it, and whoever first sees it finished (the admin's pages, or the
`threadmill_ctl` that carried it out) writes its one entry (`log_job`; the backend hands out
that chance once, `claim_job_log`).
A schedule's pause or resume logs one change that links nowhere (a schedule is settings, not
a task); its *Run now* logs the addition of the task it enqueued, linking to that task.
Pausing or resuming a queue and a pool request log one entry each, naming the queue or
pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.db import DatabaseError, close_old_connections, transaction
from django.http import HttpRequest

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.job_records import BulkJob, JobStatus
from threadmill.filters import describe
from threadmill.models import Task

logger = logging.getLogger("threadmill")

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
    """One entry for a finished bulk job, in the name of the Django user who started it
    (False when it was started without one, or that user is gone)."""
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
        f"{alias!r}){' where ' + where if where else ''} by bulk job {job.id} started by "
        f"{job.who} ({status}; {job.examined} examined, {job.refused} refused).",
    )
    return True


class _Taken(Exception):
    """Another process has claimed the job's entry: roll this one back."""


def log_job_once(backend: ThreadmillBackend, job: BulkJob) -> bool:
    """Write a finished job's one entry unless another process has: the entry is written in
    a transaction that commits only once this process has the claim (`claim_job_log`), so a
    failed write never leaves a claim behind, and two writers never both commit."""
    if not job.status.finished or job.logged:
        return False
    try:
        with transaction.atomic():
            if not log_job(job, backend.alias):
                return False  # no user to write it for: leave it unclaimed
            if not backend.claim_job_log(job.id):
                raise _Taken
    except _Taken:
        return False
    return True


def on_bulk_job_finished(sender: Any, backend: ThreadmillBackend, job_id: str, **_: Any) -> None:
    """Receiver of `bulk_job_finished` (in a pool's broker thread): the job's entry now,
    not when a page first shows the job finished. Its database connection is closed after."""
    job = backend.get_job(job_id)
    if job is None:
        return
    try:
        log_job_once(backend, job)
    except DatabaseError as exc:  # no database here: the admin writes it when it shows the job
        logger.warning("Bulk job %s: history entry not written here (%s)", job_id, exc)
    finally:
        close_old_connections()


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
