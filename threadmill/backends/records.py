"""The values the backend interface (`base.ThreadmillBackend`) takes and returns.

Plain dataclasses and enums, no Redis: a lease a worker thread runs, the outcome of an
acknowledgement, a task as the admin shows it, a page of a queue, queue statistics, the
report a pool publishes with its heartbeat and the status a reader makes of it, the
server's health, the dashboard's overview, a maintenance step's report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threadmill.schedules import Problem, Schedule


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
class TaskPage:
    queue: str
    state: TaskState
    items: list[TaskRecord]
    total: int
    offset: int
    limit: int
    name: str = ""  # the task-name filter, if any
    next_offset: int | None = None  # with a filter: the position after the last one examined
    filter: TaskFilter | None = None  # the filter of a search


#: Positions of an index that one filtered page looks at, at most: what bounds its cost.
NAME_FILTER_SCAN = 10_000
#: Index entries one task-id prefix search looks at, at most: what bounds its cost.
PREFIX_SCAN = 50_000


@dataclass(frozen=True, slots=True)
class IdSearch:
    """What a search of task ids by their first characters found (`find_task_ids`)."""

    prefix: str
    matches: list[str]  # ids that start with prefix, at most the search's limit
    examined: int  # index entries looked at
    total: int  # index entries of every queue and state when the search began
    complete: bool  # every index was looked at to its end


#: The same bound under the name searches use.
SEARCH_SCAN = NAME_FILTER_SCAN


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks of a list a search or a bulk job takes; every part given must match.

    `path`, `worker` and `args` are plain substrings (of the task path, of the ids of the
    workers that ran it, of its args or kwargs JSON); `error` is the class of its last
    error, by full path (`myapp.errors.Timeout`) or by name (`Timeout`); `since` and
    `until` bound, inclusively, when it finished (finished tasks) or was enqueued (the
    others)."""

    path: str = ""
    error: str = ""
    worker: str = ""
    args: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def __bool__(self) -> bool:
        return any((self.path, self.error, self.worker, self.args, self.since, self.until))

    @staticmethod
    def time_field(state: TaskState) -> str:
        """The record field `since` / `until` bound for tasks in `state`."""
        return "finished_at" if state.newest_first else "enqueued_at"


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


@dataclass(frozen=True, slots=True)
class ThreadReport:
    """What one task thread of a worker process runs (written by the pool, read by the admin
    and the dashboard); an idle thread has no task_id."""

    index: int
    task_id: str = ""
    task_path: str = ""
    since: datetime | None = None  # when the task started, on the pool's host clock


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """One worker process of a pool, as the pool reports it."""

    worker_id: str
    pid: int
    started_at: datetime | None
    threads: list[ThreadReport]
    processed: int = 0
    failed: int = 0
    rss_bytes: int = 0

    @property
    def busy(self) -> int:
        return sum(1 for t in self.threads if t.task_id)


@dataclass(frozen=True, slots=True)
class PoolReport:
    """What a pool (its master process) publishes with every heartbeat."""

    host: str
    pid: int
    started_at: datetime | None
    queues: list[str]
    processes: int
    threads: int
    restarts: int = 0
    crashes: int = 0
    skew_seconds: float = 0.0  # host clock minus Redis clock
    rss_bytes: int = 0  # of the master process
    stopping: bool = False  # stopping gracefully: workers finish what they hold
    quiet: bool = False  # asked to take no new tasks (it finishes what it holds)
    workers: list[WorkerReport] = field(default_factory=list)


#: What a pool can be asked to do (`ThreadmillBackend.request_pool`): take no new tasks
#: and finish what it holds, take tasks again, stop gracefully, one worker process more or
#: fewer.
POOL_ACTIONS = ("quiet", "resume", "stop", "add-worker", "remove-worker")


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """A pool as a reader sees it: its last report, when that came (Redis time), and
    whether it is stale (late, or gone without unregistering)."""

    pool_id: str
    report: PoolReport
    seen_at: datetime | None
    stale: bool


@dataclass(frozen=True, slots=True)
class HealthIssue:
    """One thing wrong with the backend's server or pools, worded once for `manage.py check`
    (its id, level and hint), the admin and the dashboard (its message)."""

    id: str  # a system check id, e.g. threadmill.W002
    level: str  # "error" or "warning"
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Health of the backend's server: what it is, and what is wrong with it."""

    url: str  # password masked
    reachable: bool
    error: str = ""
    version: str = ""  # the Redis protocol version it reports (Valkey: its Redis version)
    used_memory: int = 0
    maxmemory: int = 0
    maxmemory_policy: str = ""
    aof_enabled: bool = False
    appendfsync: str = ""
    rdb_save: str = ""
    now: datetime | None = None
    data_lost_at: datetime | None = None
    issues: list[HealthIssue] = field(default_factory=list)
    node: str = ""  # host:port of the server holding the alias's keys (cluster: slot master)
    topology: str = "standalone"  # standalone, cluster or sentinel
    connected_replicas: int = 0

    @property
    def warnings(self) -> list[str]:
        """The issues' messages, errors first, as the admin and the dashboard show them."""
        return [i.message for i in self.issues]


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the dashboard shows, read in one bounded batch (see `overview()`)."""

    server: ServerInfo
    queues: list[QueueStats]
    pools: list[PoolStatus]
    failures: list[TaskRecord]  # the most recent FAILED tasks across queues, newest first
    jobs: list[BulkJob] = field(default_factory=list)  # the unfinished bulk jobs


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    now: datetime
    epoch: str
    data_lost_at: datetime | None


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    promoted: int = 0
    pool_requests: list[str] = field(default_factory=list)  # see POOL_ACTIONS
    expired: list[str] = field(default_factory=list)
    reaped_workers: dict[str, int] = field(default_factory=dict)
    trimmed: int = 0
    active_jobs: list[str] = field(default_factory=list)  # bulk jobs to carry out
