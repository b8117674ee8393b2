"""What `threadmill_ctl requeue|purge|cancel` do by the admin's filters (by ids: `by_ids.py`).

By filter (`--queue`, `--state`, `--task`, `--error`, `--worker`, `--since`,
`--until`, `--args-contains`, parsed like the admin's search by `threadmill.filters`),
`--dry-run` lists the matching tasks; otherwise, once confirmed (or with `--yes`), the
command records a bulk job, the same kind the admin starts, and carries it out chunk by
chunk itself (the pools' brokers help if they run). Interrupted, the job goes on in the
pools; with `--background` the command only records it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.jobs import JOB_STATES
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter
from threadmill.exceptions import ThreadmillError
from threadmill.filters import describe, parse_filter

from .base import OK, REFUSED, UNUSABLE
from .history import job_user_id, record_job

#: Tasks one dry-run read examines (a bounded call, repeated to the end of the list).
DRY_RUN_SCAN = 5000
DONE_WORDS = {"requeue": "requeued", "purge": "purged", "cancel": "cancelled"}


def add_filter_arguments(parser: argparse.ArgumentParser, action: str) -> None:
    """The admin's filters as options, and the bulk mode's switches."""
    states = ", ".join(s.slug for s in JOB_STATES[action])
    group = parser.add_argument_group(
        "by filter (instead of ids)",
        "Every option given must match, as in the admin's search. Times: 2026-12-05, "
        "2026-12-05T14:30 or with a UTC offset; without one, in TIME_ZONE.",
    )
    group.add_argument("--queue", help="The queue (default: default).")
    default_state = {"requeue": "failed", "cancel": "ready"}.get(action)
    extra = ", retrying" if action in ("cancel", "purge") else ""
    group.add_argument(
        "--state",
        help=f"The tasks' state: {states}{extra}"
        + (f" (default: {default_state})." if default_state else " (required)."),
    )
    group.add_argument("--task", help="Part of the task path.")
    group.add_argument("--error", help="Class of the last error, full path or name.")
    group.add_argument("--worker", help="Part of the id of a worker that ran it.")
    group.add_argument("--since", help="Finished (enqueued, for unfinished tasks) at or after.")
    group.add_argument("--until", help="Finished (enqueued) at or before.")
    group.add_argument("--args-contains", dest="args_contains", help="Part of the arguments.")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="Change nothing: print what each id would get, or list the matching tasks.",
    )
    parser.add_argument(
        "--yes",
        "--no-input",
        dest="yes",
        action="store_true",
        help="Do not ask for confirmation (purge and cancel by id, every action by filter).",
    )
    group.add_argument(
        "--background",
        action="store_true",
        help="Record the job and return: the pools carry it out.",
    )


def uses_filter(options: dict[str, Any]) -> bool:
    names = ("queue", "state", "task", "error", "worker", "since", "until", "args_contains")
    by_filter = any(options.get(n) for n in names)
    return by_filter or bool(options.get("dry_run") and not options.get("ids"))


def parse_target(action: str, options: dict[str, Any]) -> tuple[str, TaskState, bool, TaskFilter]:
    """(queue, state, retrying, filter) from the options; CommandError saying what is wrong."""
    queue = options.get("queue") or "default"
    raw_state = options.get("state") or {"requeue": "failed", "cancel": "ready"}.get(action, "")
    if not raw_state:
        raise CommandError(f"{action} by filter needs --state.", returncode=UNUSABLE)
    retrying = raw_state.lower() == "retrying"
    allowed = [s.slug for s in JOB_STATES[action]] + (["retrying"] if action != "requeue" else [])
    if raw_state.lower() not in allowed:
        raise CommandError(
            f"--state {raw_state}: {action} by filter takes {', '.join(allowed)}.",
            returncode=UNUSABLE,
        )
    state = TaskState.DEFERRED if retrying else TaskState(raw_state.upper())
    values = {
        "task": options.get("task"),
        "error": options.get("error"),
        "worker": options.get("worker"),
        "args": options.get("args_contains"),
        "since": options.get("since"),
        "until": options.get("until"),
    }
    try:
        flt = parse_filter(values)
    except ValueError as exc:
        raise CommandError(f"--{exc}", returncode=UNUSABLE) from None
    return queue, state, retrying, flt


def check_queue(backend: ThreadmillBackend, options: dict[str, Any]) -> None:
    """CommandError naming the queues when --queue names none of them."""
    queue = options.get("queue") or "default"
    try:
        names = backend.queue_names()
    except ThreadmillError as exc:
        raise CommandError(f"Could not read the queues: {exc}", returncode=UNUSABLE) from exc
    if queue not in names:
        raise CommandError(
            f"--queue {queue}: no such queue (queues: {', '.join(names)}).", returncode=UNUSABLE
        )


def _what(queue: str, state: TaskState, retrying: bool, flt: TaskFilter) -> str:
    label = "retrying" if retrying else state.slug
    where = describe(flt)
    return f"{label} tasks of queue {queue!r}" + (f" where {where}" if where else "")


def dry_run(
    backend: ThreadmillBackend, action: str, options: dict[str, Any], cmd: BaseCommand
) -> int:
    queue, state, retrying, flt = parse_target(action, options)
    offset, found = 0, 0
    while True:
        page = backend.list_tasks(
            queue, state, offset, DRY_RUN_SCAN, filter=flt, scan=DRY_RUN_SCAN, retrying=retrying
        )
        for task in page.items:
            error = task.last_error.exception_name if task.last_error else ""
            cmd.stdout.write(f"{task.id}  {task.path}  {error}".rstrip())
        found += len(page.items)
        offset = page.next_offset if page.next_offset is not None else page.total
        if offset >= page.total:
            break
    cmd.stderr.write(
        f"Dry run: {found} {_what(queue, state, retrying, flt)} would be {DONE_WORDS[action]}.",
        style_func=str,
    )
    return OK


def confirm(question: str, cmd: BaseCommand) -> bool:
    if not sys.stdin.isatty():
        raise CommandError(
            f"{question} Refusing without confirmation: add --yes (or --dry-run to look).",
            returncode=UNUSABLE,
        )
    cmd.stderr.write(f"{question} [y/N] ", ending="", style_func=str)
    cmd.stderr.flush()
    return input().strip().lower() in ("y", "yes")


def run_bulk(
    backend: ThreadmillBackend,
    action: str,
    options: dict[str, Any],
    cmd: BaseCommand,
    who: str,
) -> int:
    """By filter: a dry run, or a confirmed bulk job carried out here (see the docstring)."""
    check_queue(backend, options)
    if options.get("dry_run"):
        return dry_run(backend, action, options, cmd)
    queue, state, retrying, flt = parse_target(action, options)
    what = _what(queue, state, retrying, flt)
    try:
        if not options.get("yes") and not confirm(f"{action.capitalize()} every {what}?", cmd):
            cmd.stderr.write("Nothing done.", style_func=str)
            return REFUSED
        job = backend.create_job(
            action, queue, state, flt, who=who, user_id=job_user_id(options), retrying=retrying
        )
        cmd.stderr.write(f"Bulk job {job.id} recorded: {action} every {what}.", style_func=str)
        if options.get("background"):
            cmd.stdout.write(job.id)
            return OK
        return _carry_out(backend, job.id, action, options, cmd)
    except ThreadmillError as exc:
        raise CommandError(
            f"The {action} did not complete: {exc} A recorded job goes on in the pools.",
            returncode=UNUSABLE,
        ) from exc


def _carry_out(
    backend: ThreadmillBackend, job_id: str, action: str, options: dict[str, Any], cmd: BaseCommand
) -> int:
    try:
        while backend.run_job_chunk(job_id)[0] == "running":
            pass
    except KeyboardInterrupt:
        cmd.stderr.write(
            f"Interrupted: job {job_id} goes on in the pools (the admin's Bulk jobs page "
            "shows it and can cancel it).",
            style_func=str,
        )
        return REFUSED
    job = backend.get_job(job_id)
    if job is None:
        raise CommandError(f"Job {job_id} has gone.", returncode=UNUSABLE)
    cmd.stdout.write(
        f"{DONE_WORDS[action].capitalize()} {job.acted}, refused {job.refused}, of "
        f"{job.examined} examined ({job.status})."
    )
    code = REFUSED if job.refused or job.status != "done" else OK
    return max(code, record_job(options, cmd, backend, job))
