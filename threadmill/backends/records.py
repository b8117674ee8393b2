"""The values of one task's life, as the backend interface (`base.ThreadmillBackend`) takes
and returns them.

Plain dataclasses and enums, no Redis: where a task is (`TaskState`), a lease a worker
thread runs (`Lease`), a request to stop it (`ControlRequest`), the outcome of an
acknowledgement (`AckOutcome`, `AckResult`), a task as the admin shows it (`TaskRecord`,
`ErrorRecord`) and the counts of a queue's tasks by state (`QueueStats`). The values of
the other parts of the interface sit beside this module: `search_records` (pages and
searches of a queue's lists), `job_records` (bulk jobs), `schedule_records` (periodic
schedules), `pool_records` (what a pool publishes and is asked to do), `health_records`
(the server's health and the dashboard's overview) and `metric_records` (run metrics).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class TaskState(enum.StrEnum):
    """Where a task is. DEFERRED is READY with a `run_after` still in the future."""

    READY = "READY"
    DEFERRED = "DEFERRED"
    RUNNING = "RUNNING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"

    @property
    def slug(self) -> str:
        """The lower-case name: in URLs, and the name of the state's index in a backend."""
        return self.value.lower()

    @property
    def newest_first(self) -> bool:
        return self in (TaskState.SUCCESSFUL, TaskState.FAILED)


class AckOutcome(enum.StrEnum):
    """What an acknowledgement (or lease extension) did."""

    OK = "OK"  # stored now
    ALREADY_DONE = "ALREADY_DONE"  # a retry of an acknowledgement that was stored
    LEASE_LOST = "LEASE_LOST"  # the lease expired or another worker holds the task now
    GONE = "GONE"  # no record any more (purged, or Redis lost it)


@dataclass(slots=True)  # not frozen: built for every task, and frozen init is slow
class Lease:
    """A task leased to one worker thread: everything needed to run it."""

    task_id: str
    token: str
    acquired_at: datetime  # Redis time; also the attempt's last_attempted_at
    path: str
    queue: str
    priority: int
    takes_context: bool
    args_json: str
    kwargs_json: str
    run_after: datetime | None
    enqueued_at: datetime | None
    started_at: datetime | None
    worker_ids_json: str
    errors_json: str
    attempt: int
    timeout: float | None = None  # the attempt's time limit, seconds (None: lease_ttl only)


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """A request to stop a running task, sent to the worker process that runs it."""

    task_id: str
    token: str  # the lease it is meant for (a later lease of the same task is not affected)
    terminate: bool  # stop it now rather than let it observe the request
    who: str


@dataclass(slots=True)
class AckResult:
    outcome: AckOutcome
    finished_at: datetime
    next_lease: Lease | None = None


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    exception_class_path: str
    traceback: str

    @property
    def exception_name(self) -> str:
        return self.exception_class_path.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """Everything the backend knows about one task, tolerant of corrupt data."""

    id: str
    queue: str
    state: TaskState | None  # None: unreadable
    path: str
    priority: int
    args: Any
    kwargs: Any
    run_after: datetime | None
    enqueued_at: datetime | None
    ready_at: datetime | None
    started_at: datetime | None
    last_attempted_at: datetime | None
    finished_at: datetime | None
    attempts: int
    worker_ids: list[str]
    errors: list[ErrorRecord]
    result: Any
    worker: str
    lease_deadline: datetime | None
    timeout: float | None = None  # time limit of one attempt, seconds
    expires: float | None = None  # seconds after becoming due that it may still start
    unique_key: str = ""  # digest of its unique claim ('' = not unique)
    cancel_requested_by: str = ""  # who asked to cancel it
    released: int = 0  # attempts given back (its worker was replaced for another task)
    schedule: str = ""  # the periodic schedule that enqueued it ('' = none)
    slot: datetime | None = None  # the schedule's slot it runs for
    raw: str = ""  # what a quarantined record held
    problems: list[str] = field(default_factory=list)  # fields that could not be decoded

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1] if self.path else "?"

    @property
    def retrying(self) -> bool:
        """Deferred for another attempt after a failure (not just scheduled for later)."""
        return self.state == TaskState.DEFERRED and self.attempts > 0

    @property
    def last_error(self) -> ErrorRecord | None:
        return self.errors[-1] if self.errors else None


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    ready: int
    deferred: int
    running: int
    successful: int
    failed: int
    oldest_ready_at: datetime | None
    next_deferred_at: datetime | None
    successful_last_minute: int
    failed_last_minute: int
    enqueued_total: int
    successful_total: int
    failed_total: int
    measured_at: datetime
    retrying: int = 0  # deferred after a failed attempt (part of `deferred`)
    retried_total: int = 0  # failed attempts put back for another try
    paused: bool = False  # no pool takes its tasks (enqueues are still accepted)

    def count(self, state: TaskState) -> int:
        return getattr(self, state.slug)
