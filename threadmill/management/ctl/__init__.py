"""The subcommands of `manage.py threadmill_ctl`, one module per group of operations:
`cancel` (tasks, `cancel.py`); `requeue`, `purge` (`requeue_purge.py`; by filter, all three
run a bulk job: `bulk.py`); `run-now`, `pause`, `resume`, `pool` (queues and pools,
`operations.py`); `stats` (queue and run metrics, `stats.py`); `schedules`,
`pause-schedule`, `resume-schedule`, `run-schedule` (periodic schedules, `schedules.py`).
The command module (`management/commands/threadmill_ctl.py`) only parses the command line
and dispatches to the `Subcommand` listed here (interface and exit codes in `base.py`)."""

from __future__ import annotations

from .base import OK, REFUSED, UNUSABLE, Subcommand, default_who
from .cancel import Cancel
from .operations import Pause, PoolControl, Resume, RunNow
from .requeue_purge import Purge, Requeue
from .schedules import PauseSchedule, ResumeSchedule, RunSchedule, Schedules
from .stats import Stats

SUBCOMMANDS: list[Subcommand] = [
    Cancel(),
    Requeue(),
    Purge(),
    RunNow(),
    Pause(),
    Resume(),
    PoolControl(),
    Stats(),
    Schedules(),
    PauseSchedule(),
    ResumeSchedule(),
    RunSchedule(),
]

__all__ = ["OK", "REFUSED", "SUBCOMMANDS", "UNUSABLE", "Subcommand", "default_who"]
