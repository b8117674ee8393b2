"""Bulk jobs as the backend interface returns them: a server-side requeue, purge or cancel
of every task of one queue's state that passes a filter (`BulkJob`), and where it is
(`JobStatus`). Plain values, no Redis (the jobs themselves are `jobs.py`, carried out by
the pools' brokers, `threadmill.pool.jobs`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from .records import TaskState
from .search_records import TaskFilter


class JobStatus(enum.StrEnum):
    WAITING = "waiting"  # no chunk carried out yet (no pool has picked it up)
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class BulkJob:
    """A server-side bulk action: requeue, purge or cancel every task of one queue's
    state that passes a filter, carried out in chunks by the pools' brokers."""

    id: str
    action: str  # requeue, purge, cancel
    queue: str
    state: TaskState
    filter: TaskFilter
    who: str  # who started it (admin:<username>, ctl:<login>@<host>)
    user_id: str  # the admin user's pk ('' when not started in the admin)
    status: JobStatus
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None
    total: int  # tasks in the state's index when it was created (progress estimate)
    examined: int  # tasks of the index it has looked at
    acted: int  # requeued / purged / cancelled (or asked to stop)
    refused: int  # matching tasks it could not act on (their state refused, or missing)
    outcomes: dict[str, int] = field(default_factory=dict)
    cancelled_by: str = ""
    logged: bool = False  # its audit entry was written
    retrying: bool = False  # it walks the retrying subset of the DEFERRED tasks

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        return min(99, self.examined * 100 // self.total) if self.total else 0
