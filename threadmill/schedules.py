"""Periodic task schedules: the `schedules` option of an alias, validated, and their slots.

    TASKS = {"default": {..., "OPTIONS": {"schedules": {
        "nightly-report": {"task": "reports.tasks.nightly", "cron": "30 2 * * *",
                           "timezone": "Europe/Berlin", "kwargs": {"full": True}},
        "sync": {"task": "crm.tasks.sync", "every": timedelta(minutes=5)},
    }}}}

A *slot* is one moment a schedule is due, as an aware UTC datetime. `every` slots are the
multiples of the interval since the Unix epoch (so every pool computes the same ones);
`cron` slots come from the `cronsim` library in the entry's time zone. Around DST changes
cronsim's rule applies: a time skipped by spring-forward runs at the first minute after the
gap (02:30 → 03:00, once); a time repeated by fall-back runs once, at its first occurrence,
for an expression with a fixed hour (an `*` hour runs in both hours: they are different
moments). This module only computes; the pool's broker (`pool/schedules.py`) claims and
enqueues the slots through the backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.conf import settings

#: The usual `@daily`-style names, as the 5-field expressions they stand for.
CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CATCH_UP = ("none", "one", "all")
#: Most missed slots one `catch_up: "all"` enqueues after an outage (the newest ones).
CATCH_UP_ALL_LIMIT = 100
ENTRY_KEYS = {
    "task",
    "cron",
    "every",
    "timezone",
    "args",
    "kwargs",
    "queue_name",
    "priority",
    "catch_up",
    "overlap",
}


@dataclass(frozen=True)
class Schedule:
    """One validated entry of an alias's `schedules` option."""

    name: str
    task: str  # dotted path of the task
    cron: str = ""  # the 5-field expression ('' for an interval)
    every: timedelta | None = None
    timezone: str = "UTC"
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue_name: str | None = None  # None: the task's own
    priority: int | None = None  # None: the task's own
    catch_up: str = "one"
    overlap: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def slots_after(self, moment: datetime) -> Iterator[datetime]:
        """The slots strictly after moment, in order (aware UTC datetimes)."""
        if self.every is not None:
            step = self.every.total_seconds()
            n = int(moment.timestamp() // step) + 1
            while True:
                yield datetime.fromtimestamp(n * step, tz=UTC)
                n += 1
        local = moment.astimezone(self.zone)
        for slot in CronSim(self.cron, local):
            slot = slot.astimezone(UTC)
            if slot > moment:
                yield slot

    def next_slot(self, moment: datetime) -> datetime:
        return next(self.slots_after(moment))

    def due_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """The slots in (start, end], the newest `limit` of them at most."""
        found: list[datetime] = []
        for slot in self.slots_after(start):
            if slot > end:
                break
            found.append(slot)
            if len(found) > limit:
                found.pop(0)
        return found

    def describe(self) -> str:
        """The schedule in words ("every 5 minutes", "At 02:30 (Europe/Berlin)")."""
        if self.every is not None:
            return f"every {_duration(self.every)}"
        try:
            words = CronSim(self.cron, datetime.now(self.zone)).explain()
        except Exception:  # explain() is best effort
            words = self.cron
        return f"{words} ({self.timezone})"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"


@dataclass(frozen=True)
class Problem:
    """A schedule entry that cannot be used: a `manage.py check` error."""

    id: str
    message: str
    hint: str
    name: str = ""  # the entry's name ('' when the whole option is wrong)


def parse(raw: Any, where: str) -> tuple[list[Schedule], list[Problem]]:
    """Validate the `schedules` option; returns the usable entries and the problems of the
    others (an entry with a problem is left out, never half-used)."""
    if raw is None:
        return [], []
    if not isinstance(raw, dict):
        return [], [
            Problem(
                "threadmill.E020",
                f"{where}['schedules'] must be a dict of name -> entry, got {type(raw).__name__}.",
                "Write schedules as {'name': {'task': 'app.tasks.f', 'cron': '0 * * * *'}}.",
            )
        ]
    schedules, problems = [], []
    for name, entry in raw.items():
        schedule, problem = _parse_entry(str(name), entry, f"{where}['schedules'][{name!r}]")
        if problem:
            problems.append(problem)
        elif schedule:
            schedules.append(schedule)
    return schedules, problems


def _parse_entry(name: str, entry: Any, where: str) -> tuple[Schedule | None, Problem | None]:
    def bad(id_: str, message: str, hint: str) -> tuple[None, Problem]:
        return None, Problem(id_, f"{where}: {message}", hint, name)

    if not isinstance(entry, dict):
        return bad("threadmill.E020", "must be a dict.", "See docs/schedules.md.")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        return bad(
            "threadmill.E020",
            f"unknown key(s) {', '.join(unknown)}.",
            f"Valid keys: {', '.join(sorted(ENTRY_KEYS))}.",
        )
    task = entry.get("task")
    if not isinstance(task, str) or "." not in task:
        return bad(
            "threadmill.E020",
            f"'task' must be the dotted path of a task, got {task!r}.",
            "e.g. 'reports.tasks.nightly'.",
        )
    has_cron, has_every = "cron" in entry, "every" in entry
    if has_cron == has_every:
        return bad(
            "threadmill.E020",
            "needs exactly one of 'cron' and 'every'.",
            "'cron': '30 2 * * *' (or '@daily'), or 'every': timedelta(minutes=5).",
        )
    zone = entry.get("timezone") or getattr(settings, "TIME_ZONE", None) or "UTC"
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return bad(
            "threadmill.E022",
            f"unknown time zone {zone!r}.",
            "Use an IANA name such as 'Europe/Berlin' or 'UTC'.",
        )
    cron, every = "", None
    if has_cron:
        text = entry["cron"]
        cron = CRON_ALIASES.get(str(text).strip().lower(), str(text).strip())
        try:
            CronSim(cron, datetime.now(ZoneInfo(str(zone))))
        except (CronSimError, ValueError, TypeError) as exc:
            return bad(
                "threadmill.E021",
                f"cron {text!r} is not a valid expression ({exc}).",
                "Five fields: minute hour day-of-month month day-of-week, e.g. '30 2 * * *', "
                "or @yearly, @monthly, @weekly, @daily, @hourly.",
            )
    else:
        raw_every = entry["every"]
        seconds = (
            raw_every.total_seconds()
            if isinstance(raw_every, timedelta)
            else raw_every
            if isinstance(raw_every, (int, float)) and not isinstance(raw_every, bool)
            else None
        )
        if seconds is None or seconds < 1 or seconds != int(seconds):
            return bad(
                "threadmill.E020",
                f"'every' must be a whole number of seconds, at least 1, got {raw_every!r}.",
                "e.g. timedelta(minutes=5).",
            )
        every = timedelta(seconds=seconds)
    catch_up = entry.get("catch_up", "one")
    if catch_up not in CATCH_UP:
        return bad(
            "threadmill.E020",
            f"catch_up must be one of {', '.join(CATCH_UP)}, got {catch_up!r}.",
            "'one' (default): one run for all the slots missed while no pool ran.",
        )
    args, kwargs = entry.get("args", []), entry.get("kwargs", {})
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        return bad("threadmill.E020", "'args' must be a list and 'kwargs' a dict.", "")
    priority = entry.get("priority")
    if priority is not None and not isinstance(priority, int):
        return bad("threadmill.E020", f"'priority' must be a whole number, got {priority!r}.", "")
    overlap = entry.get("overlap", True)
    if not isinstance(overlap, bool):
        return bad("threadmill.E020", f"'overlap' must be True or False, got {overlap!r}.", "")
    return Schedule(
        name=name,
        task=task,
        cron=cron,
        every=every,
        timezone=str(zone),
        args=list(args),
        kwargs=dict(kwargs),
        queue_name=entry.get("queue_name"),
        priority=priority,
        catch_up=catch_up,
        overlap=overlap,
    ), None


def task_problem(schedule: Schedule, alias: str) -> Problem | None:
    """Check error threadmill.E023 when the entry's `task` cannot be used, else None."""
    try:
        scheduled_task(schedule, alias)
    except Exception as exc:  # ImportError, TypeError, InvalidTask ...
        return Problem(
            "threadmill.E023",
            f"TASKS[{alias!r}]['OPTIONS']['schedules'][{schedule.name!r}]: "
            f"task {schedule.task!r} cannot be used ({exc}).",
            "Point 'task' at a function decorated with @task.",
            schedule.name,
        )
    return None


def scheduled_task(schedule: Schedule, alias: str) -> Any:
    """The Task a schedule enqueues, on alias, with the entry's queue and priority. Raises
    ImportError or TypeError saying what is wrong with the entry's `task`."""
    from django.tasks import Task
    from django.utils.module_loading import import_string

    found = import_string(schedule.task)
    if not isinstance(found, Task):
        raise TypeError(
            f"{schedule.task!r} is a {type(found).__name__}, not a task (decorate it with @task)."
        )
    changes: dict[str, Any] = {"backend": alias}
    if schedule.queue_name is not None:
        changes["queue_name"] = schedule.queue_name
    if schedule.priority is not None:
        changes["priority"] = schedule.priority
    return found.using(**changes)
