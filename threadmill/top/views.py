"""What one frame of the dashboard shows: frozen dataclasses of numbers and strings.

A `Snapshot` holds a backend's server facts, one `QueueView` per queue, one `PoolView` per
pool (its worker processes and threads), the newest failures, the unfinished bulk jobs
(`JobView`), the throughput history and
one `ScheduleView` per periodic schedule, as `Sampler` (snapshot.py) builds them and the
panels draw them; with the per-task view, one `TaskView` per queue and task path.
`Snapshot.to_dict()` is
the `--json` output: plain JSON types, datetimes as ISO 8601 text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

#: The throughput history's bucket (seconds).
BUCKET_SECONDS = 10


@dataclass(frozen=True, slots=True)
class QueueView:
    name: str
    ready: int
    deferred: int
    running: int
    successful: int  # results kept (result_ttl)
    failed: int
    successful_last_minute: int
    failed_last_minute: int
    in_per_second: float | None  # enqueued per second since the previous frame
    out_per_second: float | None  # finished (successful + failed) per second, same window
    oldest_ready_seconds: float | None  # age of the task that has waited longest
    enqueued_total: int
    successful_total: int
    failed_total: int
    retrying: int = 0  # deferred tasks waiting for another attempt (part of `deferred`)
    retried_total: int = 0  # failed attempts put back for a retry, counted by the backend
    retries_per_minute: float | None = None  # over the last minute of sampling
    paused: bool = False  # no pool takes its tasks until it is resumed


@dataclass(frozen=True, slots=True)
class ThreadView:
    index: int
    task_id: str  # "" when idle
    task_path: str
    running_seconds: float | None  # None when idle


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker_id: str
    pid: int
    uptime_seconds: float | None
    busy: int
    threads: list[ThreadView]
    processed: int
    failed: int
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class PoolView:
    pool_id: str
    host: str
    pid: int
    uptime_seconds: float | None
    heartbeat_age_seconds: float | None
    stale: bool  # no heartbeat for longer than expected: dead, frozen or cut off
    stopping: bool
    restarts: int
    crashes: int
    rss_bytes: int  # the master's
    skew_seconds: float
    queues: list[str]
    processes: int
    threads_per_process: int
    workers: list[WorkerView]
    quiet: bool = False  # asked to take no new tasks (finishes what it holds)


@dataclass(frozen=True, slots=True)
class FailureView:
    task_id: str
    queue: str
    task_path: str
    error_class: str  # full import path of the exception class
    finished_at: datetime | None
    ago_seconds: float | None


@dataclass(frozen=True, slots=True)
class JobView:
    """An unfinished bulk job (requeue / purge / cancel all matching)."""

    job_id: str
    action: str
    queue: str
    tasks: str  # the list it walks: failed, ready, retrying ...
    where: str  # its filter in words ('' = every task of the list)
    status: str  # waiting (no pool took it up yet) or running
    examined: int
    total: int  # the list's size when it was created
    acted: int
    percent: int
    who: str


@dataclass(frozen=True, slots=True)
class ServerView:
    version: str
    used_memory: int
    maxmemory: int
    maxmemory_policy: str
    persistence: str  # "AOF everysec", "RDB" or "off"
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class ThroughputBucket:
    """Tasks counted in one BUCKET_SECONDS slot (a frame whose window spans several slots is
    shared between them in proportion); None where the dashboard was not sampling."""

    start: datetime
    enqueued: float | None
    finished: float | None
    failed: float | None


@dataclass(frozen=True, slots=True)
class RunView:
    """A schedule's newest run that enqueued a task."""

    slot: datetime | None  # aware UTC
    task_id: str
    how: str  # slot, catch-up or now
    status: str  # its task's status when read ('' : the task expired)


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """One periodic schedule of the alias's settings."""

    name: str
    task: str
    description: str  # the schedule in words
    next_slot: datetime | None  # aware UTC (None: the entry has a problem it cannot run with)
    due_in_seconds: float | None  # from the frame's Redis time to next_slot
    paused: bool
    problem: str  # its check id (threadmill.E02x), '' for none
    last_run: RunView | None


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task path's runs in one queue over the last `Snapshot.task_span_seconds`."""

    queue: str
    path: str
    runs: int
    successful: int
    failed: int
    retried: int
    failure_rate: float
    p50_ms: float | None
    p95_ms: float | None
    max_ms: int | None
    last_error_class: str  # '' when none kept


@dataclass(frozen=True, slots=True)
class Snapshot:
    alias: str
    url: str  # password masked
    taken_at: datetime  # local clock, for the header
    reachable: bool
    error: str = ""  # why the last read failed
    down_since: datetime | None = None
    redis_time: datetime | None = None  # of the last good read
    server: ServerView | None = None  # None until a first read succeeds
    queues: list[QueueView] = field(default_factory=list)
    pools: list[PoolView] = field(default_factory=list)
    failures: list[FailureView] = field(default_factory=list)
    jobs: list[JobView] = field(default_factory=list)
    throughput: list[ThroughputBucket] = field(default_factory=list)
    schedules: list[ScheduleView] = field(default_factory=list)  # in settings order
    bucket_seconds: int = BUCKET_SECONDS
    rate_window_seconds: float | None = None  # what the per-second rates were measured over
    lease_ttl_seconds: float = 3600.0
    heartbeat_interval_seconds: float = 2.0
    # Per-task run metrics (the `t` view, and --json); None when not read this frame.
    tasks: list[TaskView] | None = None
    task_span_seconds: float = 3600.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (datetimes as ISO 8601 text)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
