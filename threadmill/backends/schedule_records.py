"""Periodic schedules as the backend interface returns them: what Redis knows of one
(`ScheduleState` and its recorded runs, `ScheduleRun`), what one claim of a slot did
(`ScheduleFired`), and a schedule of an alias's settings joined with that state, as the
admin, the CLI and top show it (`ScheduleReport`). Plain values, no Redis (reading them is
`schedule_reads.py`, claiming a slot `lua/schedule.lua`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadmill.schedules import Problem, Schedule


#: How a run that enqueued a task is recorded (the others: paused, overlap, skipped, unique).
ENQUEUED_RUNS = ("slot", "catch-up", "now")


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One slot of a schedule as its runs list recorded it."""

    slot: datetime | None
    task_id: str  # '' when the slot did not run
    how: str  # slot, catch-up, now (run now), paused, overlap, skipped (missed), unique
    status: str = ""  # its task's status when read ('' : did not run, or the task expired)


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """What Redis knows of one periodic schedule."""

    name: str
    last_slot: datetime | None  # the newest slot claimed (run or skipped); aware UTC
    paused: bool
    skipped: int  # slots not run (paused, overlapping, missed with catch_up none)
    skipped_last: datetime | None
    current: str  # id of its newest task
    runs: list[ScheduleRun]


@dataclass(frozen=True, slots=True)
class ScheduleReport:
    """One schedule of an alias's settings, as the admin, the CLI and top show it."""

    name: str
    entry: Schedule | None  # None when the settings entry is invalid (see problem)
    problem: Problem | None  # what `manage.py check` says of it (None: nothing)
    state: ScheduleState | None  # what Redis knows (None for an invalid entry)
    next_slot: datetime | None  # aware UTC; shown even while paused (its slots are skipped)

    @property
    def task(self) -> str:
        return self.entry.task if self.entry else ""

    @property
    def description(self) -> str:
        return self.entry.describe() if self.entry else ""

    @property
    def paused(self) -> bool:
        return bool(self.state and self.state.paused)

    @property
    def last_run(self) -> ScheduleRun | None:
        """The newest run that enqueued a task (not a slot skipped, paused or refused)."""
        runs = self.state.runs if self.state else []
        return next((r for r in runs if r.how in ENQUEUED_RUNS and r.task_id), None)


@dataclass(frozen=True, slots=True)
class ScheduleFired:
    """What one claim of a schedule's slot did (see lua/schedule.lua)."""

    outcome: str  # enqueued, claimed, early, paused, overlap, unique, skipped
    task_id: str
    now: datetime | None  # Redis time
