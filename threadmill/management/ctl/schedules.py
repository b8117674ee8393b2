"""`threadmill_ctl` for periodic schedules: `schedules` (a table, or `--json`),
`pause-schedule NAME...`, `resume-schedule NAME...` and `run-schedule NAME...`.

Everything is read with one `backend.schedule_report()` (two Redis round trips). The
actions check every name first and do nothing when one is wrong: an unknown name is an
error listing the schedules the alias defines, and `run-schedule` refuses an entry that
`manage.py check` reports a problem for (exit 1 for both). Times are shown in each entry's
own time zone (its `timezone`, else `TIME_ZONE`); `--json` gives them as ISO 8601.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.tasks.exceptions import InvalidTask

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.schedule_records import ScheduleReport, ScheduleRun
from threadmill.exceptions import ThreadmillError

from .base import OK, REFUSED, UNUSABLE, Subcommand
from .history import record_schedule

#: What `fire_schedule(..., "now")` outcomes other than "enqueued" mean.
NOT_RUN = {
    "unique": "not enqueued: its task is unique and a run with the same key is queued or running",
    "overlap": "not enqueued: its previous run is still queued or running (overlap: False)",
}


def read_report(backend: ThreadmillBackend) -> list[ScheduleReport]:
    """The alias's schedules, or a CommandError (exit 2) when Redis does not answer."""
    try:
        return backend.schedule_report()
    except ThreadmillError as exc:
        raise CommandError(f"Cannot read the schedules: {exc}", returncode=UNUSABLE) from exc


def where(backend: ThreadmillBackend) -> str:
    return f"TASKS[{backend.alias!r}]['OPTIONS']['schedules']"


def pick(
    backend: ThreadmillBackend, reports: list[ScheduleReport], names: list[str], *, to_run: bool
) -> list[ScheduleReport]:
    """The reports of names, in the order given (repeated names once). An unknown name,
    or (to_run) an entry with a problem, is a CommandError with exit code 1."""
    wanted = [n for n in dict.fromkeys(s.strip() for s in names) if n]
    if not wanted:
        raise CommandError("No schedule name given (the names were empty).", returncode=UNUSABLE)
    by_name = {r.name: r for r in reports}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        known = ", ".join(by_name) or "(none)"
        raise CommandError(
            f"Unknown schedule {', '.join(map(repr, unknown))}: {where(backend)} defines "
            f"{known}. Nothing was changed.",
            returncode=REFUSED,
        )
    picked = [by_name[n] for n in wanted]
    broken = [r for r in picked if r.problem or r.entry is None] if to_run else []
    if broken:
        lines = [
            f"{r.name}: {r.problem.id}: {r.problem.message} {r.problem.hint}".rstrip()
            for r in broken
            if r.problem
        ]
        raise CommandError(
            "Refused: a schedule whose entry has a problem cannot run (fix it; `manage.py "
            "check` lists the problems). Nothing was run.\n" + "\n".join(lines),
            returncode=REFUSED,
        )
    return picked


def zone_of(report: ScheduleReport) -> ZoneInfo:
    return report.entry.zone if report.entry else ZoneInfo("UTC")


def local_text(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time in zone, e.g. 2026-03-29 03:00:00 CEST ('-' for none)."""
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def run_text(run: ScheduleRun | None, zone: ZoneInfo) -> str:
    if run is None:
        return "-"
    status = run.status or "expired"  # its task's record is gone (result_ttl)
    how = "" if run.how == "slot" else f" ({run.how})"
    return f"{local_text(run.slot, zone)} {status}{how}"


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def run_dict(run: ScheduleRun) -> dict[str, Any]:
    return {"slot": iso(run.slot), "task_id": run.task_id, "how": run.how, "status": run.status}


def report_dict(report: ScheduleReport) -> dict[str, Any]:
    """One schedule for `--json`: plain JSON types, times as ISO 8601 in UTC (and the
    next slot in the entry's zone too)."""
    entry, state, problem = report.entry, report.state, report.problem
    ran = report.last_run
    return {
        "name": report.name,
        "task": report.task,
        "schedule": report.description,
        "cron": entry.cron if entry else "",
        "every_seconds": entry.every.total_seconds() if entry and entry.every else None,
        "timezone": entry.timezone if entry else "",
        "next_slot": iso(report.next_slot),
        "next_slot_local": (
            report.next_slot.astimezone(zone_of(report)).isoformat() if report.next_slot else None
        ),
        "paused": report.paused,
        "skipped": state.skipped if state else 0,
        "last_slot": iso(state.last_slot) if state else None,
        "last_run": run_dict(ran) if ran else None,
        "runs": [run_dict(run) for run in state.runs] if state else [],
        "problem": (
            {"id": problem.id, "message": problem.message, "hint": problem.hint}
            if problem
            else None
        ),
    }


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart (the last one not padded)."""
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


HEADER = ["NAME", "TASK", "SCHEDULE", "NEXT RUN", "PAUSED", "LAST RUN", "PROBLEM"]


class Schedules(Subcommand):
    name = "schedules"

    def changes(self, options: dict[str, Any]) -> bool:
        return False  # read-only

    help = (
        "List the periodic schedules of the alias: task, schedule in words, next run (in the "
        "entry's time zone), paused, last run and its status, problem. --json for scripts."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the schedules as JSON (times in ISO 8601, UTC) instead of a table.",
        )

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        reports = read_report(backend)
        if options["json"]:
            data = {"backend": backend.alias, "schedules": [report_dict(r) for r in reports]}
            cmd.stdout.write(json.dumps(data, indent=2))
            return OK
        if not reports:
            cmd.stderr.write(f"No schedules: {where(backend)} is empty.", style_func=str)
            return OK
        rows = [HEADER]
        for r in reports:
            zone = zone_of(r)
            rows.append(
                [
                    r.name,
                    r.task or "-",
                    r.description or "-",
                    local_text(r.next_slot, zone),
                    "yes" if r.paused else "no",
                    run_text(r.last_run, zone),
                    r.problem.id if r.problem else "-",
                ]
            )
        for line in table(rows):
            cmd.stdout.write(line)
        for r in reports:
            if r.problem:  # in full, beside the table: stdout stays one row per schedule
                message = f"{r.name}: {r.problem.id}: {r.problem.message} {r.problem.hint}"
                cmd.stderr.write(message.rstrip(), style_func=str)
        return OK


class _Pause(Subcommand):
    paused: bool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("names", nargs="+", metavar="NAME", help="Schedule names.")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        picked = pick(backend, read_report(backend), options["names"], to_run=False)
        width = max(len(r.name) for r in picked)
        word = "paused" if self.paused else "resumed"
        code = OK
        for r in picked:
            try:
                backend.pause_schedule(r.name, self.paused)
            except ThreadmillError as exc:
                raise CommandError(
                    f"{r.name}: not {word}: {exc} The schedules before it in the list are "
                    f"{word}; run it again for the others.",
                    returncode=UNUSABLE,
                ) from exc
            if self.paused:
                meaning = "its slots are claimed without running, counted as skipped"
            else:
                meaning = f"next run {local_text(r.next_slot, zone_of(r))}"
            if r.paused == self.paused:
                meaning += " (it was already paused)" if self.paused else " (it was not paused)"
            cmd.stdout.write(f"{r.name:<{width}}  {word}  {meaning}")
            if r.paused != self.paused:  # changed: recorded
                action = "pause" if self.paused else "resume"
                code = max(code, record_schedule(options, cmd, action, backend.alias, r.name))
        cmd.stderr.write(f"{len(picked)} {word}.", style_func=str)
        return code


class PauseSchedule(_Pause):
    name = "pause-schedule"
    help = (
        "Pause periodic schedules by name: their slots are claimed without running and "
        "counted as skipped until resumed (run-schedule still runs them)."
    )
    paused = True


class ResumeSchedule(_Pause):
    name = "resume-schedule"
    help = "Resume paused periodic schedules by name: their next slot runs."
    paused = False


class RunSchedule(Subcommand):
    name = "run-schedule"
    help = (
        "Run periodic schedules now, by name: one run each, enqueued at once, whatever "
        "their slots and pause (the admin's Run now). An entry with a problem is refused."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("names", nargs="+", metavar="NAME", help="Schedule names.")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        picked = pick(backend, read_report(backend), options["names"], to_run=True)
        width = max(len(r.name) for r in picked)
        enqueued, recorded = 0, OK
        for r in picked:
            assert r.entry is not None  # pick() refused the others
            try:
                fired = backend.fire_schedule(r.entry, datetime.now(UTC), "now")
            except InvalidTask as exc:  # e.g. kwargs that are not JSON: nothing enqueued
                cmd.stdout.write(f"{r.name:<{width}}  refused  {exc}")
                continue
            except ThreadmillError as exc:
                raise CommandError(
                    f"{r.name}: not run: {exc} The schedules before it in the list were enqueued.",
                    returncode=UNUSABLE,
                ) from exc
            if fired.outcome == "enqueued":
                enqueued += 1
                cmd.stdout.write(f"{r.name:<{width}}  enqueued  task {fired.task_id} ({r.task})")
                recorded = max(
                    recorded,
                    record_schedule(options, cmd, "run", backend.alias, r.name, fired.task_id),
                )
            else:
                meaning = NOT_RUN.get(fired.outcome, "not enqueued")
                cmd.stdout.write(f"{r.name:<{width}}  {fired.outcome}  {meaning}")
        cmd.stderr.write(f"{enqueued} of {len(picked)} enqueued.", style_func=str)
        return OK if enqueued == len(picked) and recorded == OK else REFUSED
