"""The worker pools as the backend interface sees them: the report a pool's master publishes
with every heartbeat (`PoolReport`, with a `WorkerReport` per worker process and a
`ThreadReport` per task thread), the status a reader makes of it (`PoolStatus`), what a
pool can be asked to do (`POOL_ACTIONS`), and what the master's heartbeat and maintenance
calls return (`HeartbeatReply`, `MaintenanceReport`). Plain values, no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
    sampled: int = 0  # queues whose depth this step sampled (the first of their minute)
