"""Recording what `threadmill_ctl` did in the admin's history (`LogEntry`, as the admin's
own actions are), when `--user NAME` (or the `THREADMILL_CTL_USER` environment variable)
names the Django user who acts. Without one, nothing is recorded: a runbook without a
Django user still works.

The admin's history module is imported only when a user is named, so the command also runs
in projects without `django.contrib.admin`. Each `record_*` writes after the action was
done; when the database refuses, it says so on stderr and returns `REFUSED` (exit 1: done,
not recorded).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from threadmill.exceptions import ThreadmillError

from .base import OK, REFUSED, UNUSABLE, default_who

if TYPE_CHECKING:
    from threadmill.admin.history import Actor
    from threadmill.backends.base import ThreadmillBackend
    from threadmill.backends.job_records import BulkJob

#: The environment variable that names the acting Django user when --user is not given.
USER_VARIABLE = "THREADMILL_CTL_USER"


def resolve_actor(username: str | None) -> Actor | None:
    """The Actor for --user (or $THREADMILL_CTL_USER); None when neither is set;
    CommandError (exit 2) when the name cannot be used, before anything is done."""
    name = username or os.environ.get(USER_VARIABLE, "")
    if not name:
        return None
    if not apps.is_installed("django.contrib.admin"):
        raise CommandError(
            f"--user {name}: the history is the admin's, and django.contrib.admin is not in "
            "INSTALLED_APPS. Leave --user (and $THREADMILL_CTL_USER) out.",
            returncode=UNUSABLE,
        )
    from threadmill.admin.history import ctl_actor

    try:
        return ctl_actor(name, default_who())
    except LookupError as exc:
        raise CommandError(
            f"--user {name}: {exc}. Name an existing user (the admin's history records "
            "who acted), or leave --user out.",
            returncode=UNUSABLE,
        ) from None
    except DatabaseError as exc:
        raise CommandError(
            f"--user {name}: the database did not answer ({exc}); nothing was done.",
            returncode=UNUSABLE,
        ) from exc


def _record(options: dict[str, Any], cmd: BaseCommand, write: Callable[[Actor], Any]) -> int:
    actor: Actor | None = options.get("actor")
    if actor is None:
        return OK
    return _attempt(cmd, lambda: write(actor))


def _attempt(cmd: BaseCommand, write: Callable[[], Any]) -> int:
    """Write; REFUSED, saying why, when the database (or Redis, for a job's claim) fails."""
    try:
        write()
    except (DatabaseError, ThreadmillError) as exc:
        cmd.stderr.write(f"Done, but not recorded in the admin's history: {exc}")
        return REFUSED
    return OK


def record_tasks(
    options: dict[str, Any], cmd: BaseCommand, action: str, alias: str, outcomes: dict[str, str]
) -> int:
    """One entry per task the action touched (see `history.log_tasks`)."""
    from threadmill.admin.history import log_tasks

    return _record(options, cmd, lambda actor: log_tasks(actor, action, alias, outcomes))


def record_operation(options: dict[str, Any], cmd: BaseCommand, label: str, done: str) -> int:
    """One entry for a queue's pause or resume, or a pool request."""
    from threadmill.admin.history import log_operation

    return _record(options, cmd, lambda actor: log_operation(actor, label, done))


def record_schedule(
    options: dict[str, Any], cmd: BaseCommand, action: str, alias: str, name: str, task_id: str = ""
) -> int:
    """One entry for a schedule's pause, resume or run."""
    from threadmill.admin.history import log_schedule

    return _record(options, cmd, lambda actor: log_schedule(actor, action, alias, name, task_id))


def job_user_id(options: dict[str, Any]) -> str:
    """The user a bulk job records, so that its one entry is written in their name."""
    actor: Actor | None = options.get("actor")
    return str(actor.user_id) if actor is not None else ""


def record_job(
    options: dict[str, Any], cmd: BaseCommand, backend: ThreadmillBackend, job: BulkJob
) -> int:
    """The finished job's one entry, in the name of the user the job records (this
    command's --user), unless the admin has written it already (whoever claims it first)."""
    if not job.user_id or not job.status.finished:
        return OK
    from threadmill.admin.history import log_job_once

    return _attempt(cmd, lambda: log_job_once(backend, job))
