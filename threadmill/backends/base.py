"""The queue-agnostic interface of a Threadmill backend and its read-model dataclasses.

Two audiences use it, and neither knows Redis:

* the worker pool (`threadmill.pool`) uses the **worker API**: wait for work, acquire a lease,
  acknowledge it (and acquire the next task in the same round trip), extend a lease, resolve
  the tasks of a lost worker, heartbeat, and the broker's maintenance steps;
* the admin pages and the dashboard use the **inspection API**: queue statistics, a page of
  tasks of one status, one task, the live pools, server health, requeue and purge.

Every inspection call costs work proportional to what it returns, never to queue length.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.tasks.backends.base import BaseTaskBackend


class TaskState(enum.StrEnum):
    """Where a task is. DEFERRED is READY with a `run_after` still in the future."""

    READY = "READY"
    DEFERRED = "DEFERRED"
    RUNNING = "RUNNING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"

    @property
    def index(self) -> str:
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
    raw: str = ""  # what a quarantined record held
    problems: list[str] = field(default_factory=list)  # fields that could not be decoded

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1] if self.path else "?"

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


#: Positions of an index that one name-filtered page looks at, at most: what bounds its cost.
NAME_FILTER_SCAN = 10_000


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

    def count(self, state: TaskState) -> int:
        return getattr(self, state.index)


@dataclass(frozen=True, slots=True)
class ThreadStatus:
    index: int
    task_id: str
    task_path: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    worker_id: str
    pid: int
    started_at: datetime | None
    threads: list[ThreadStatus]
    processed: int
    failed: int
    rss_bytes: int

    @property
    def busy(self) -> int:
        return sum(1 for t in self.threads if t.task_id)


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """One pool (master process) as its last heartbeat described it."""

    pool_id: str
    host: str
    pid: int
    started_at: datetime | None
    seen_at: datetime | None  # Redis time of the last heartbeat
    queues: list[str]
    processes: int
    threads: int
    restarts: int
    crashes: int
    skew_seconds: float  # host clock minus Redis clock
    workers: list[WorkerStatus]
    stale: bool
    rss_bytes: int = 0  # of the master process
    stopping: bool = False  # stopping gracefully: workers finish what they hold


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Health of the backend's server, with warnings when a setting can lose tasks."""

    url: str  # password masked
    reachable: bool
    error: str = ""
    version: str = ""
    used_memory: int = 0
    maxmemory: int = 0
    maxmemory_policy: str = ""
    aof_enabled: bool = False
    appendfsync: str = ""
    rdb_save: str = ""
    now: datetime | None = None
    data_lost_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    node: str = ""  # host:port of the server holding the alias's keys (cluster: slot master)
    topology: str = "standalone"  # standalone, cluster or sentinel
    connected_replicas: int = 0


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the dashboard shows, read in one bounded batch (see `overview()`)."""

    server: ServerInfo
    queues: list[QueueStats]
    pools: list[PoolStatus]
    failures: list[TaskRecord]  # the most recent FAILED tasks across queues, newest first


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    now: datetime
    epoch: str
    data_lost_at: datetime | None


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    promoted: int = 0
    expired: list[str] = field(default_factory=list)
    reaped_workers: dict[str, int] = field(default_factory=dict)
    trimmed: int = 0


class ThreadmillBackend(BaseTaskBackend):
    """A `django.tasks` backend that the Threadmill pool, admin and dashboard can drive."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    # ---- worker API -------------------------------------------------------------------

    @abstractmethod
    def acquire(self, worker_id: str, queues: Sequence[str], token: str) -> Lease | None:
        """Lease the next task of queues (priority, then FIFO), or None when all are empty."""

    @abstractmethod
    def park(self, worker_id: str, queues: Sequence[str], token: str, mailbox: str) -> Lease | None:
        """Lease the next task like acquire or, when there is none, park the calling thread:
        the next task pushed to its queues is leased to it under token and put in mailbox."""

    @abstractmethod
    def wait_for_lease(self, mailbox: str, timeout: float) -> Lease | None:
        """Block on a parked thread's mailbox until a lease arrives (or a stop request, or
        timeout: None). A lost reply here loses nothing: `unpark` finds the lease again."""

    @abstractmethod
    def unpark(self, worker_id: str, mailbox: str, token: str) -> Lease | None:
        """Stop being parked; returns the lease handed to the thread meanwhile, if any."""

    @abstractmethod
    def request_stop(self, mailboxes: Iterable[str]) -> None:
        """Wake parked threads with a stop request (graceful stop, recycling)."""

    @abstractmethod
    def acknowledge(
        self,
        lease: Lease,
        worker_id: str,
        *,
        succeeded: bool,
        value_json: str,
        next_token: str = "",
        queues: Sequence[str] = (),
    ) -> AckResult:
        """Store a leased task's outcome (fenced by its token) and, if next_token is given,
        lease the next task of queues in the same round trip."""

    @abstractmethod
    def extend_lease(self, lease: Lease, seconds: float) -> AckOutcome:
        """Move a lease's deadline to now + seconds."""

    @abstractmethod
    def resolve_worker(self, worker_id: str, reason: str) -> dict[str, str]:
        """The worker is gone: requeue or fail what it held. Returns id -> outcome."""

    @abstractmethod
    def heartbeat(self, pool_id: str, worker_ids: Iterable[str], status: dict) -> HeartbeatReply:
        """Mark a pool and its workers alive for `heartbeat_ttl`, publish its status, and
        return the server's data epoch (it changes when Redis loses its data)."""

    @abstractmethod
    def remove_pool(self, pool_id: str, worker_ids: Iterable[str]) -> None:
        """A pool stopped cleanly: forget it and its workers."""

    @abstractmethod
    def record_data_loss(self, detail: str) -> None:
        """Remember that the server lost data, for checks, admin and dashboard."""

    @abstractmethod
    def maintain(
        self,
        queues: Sequence[str],
        *,
        reap: bool = True,
        housekeeping: bool = True,
        reap_until: float | None = None,
    ) -> MaintenanceReport:
        """One broker step: promote due deferred tasks; with `reap`, resolve the workers of
        dead pools; with `housekeeping`, trim expired results and (with `reap`) expire
        leases. `batch_size` of each per call. `reap=False` leaves leases and workers alone
        (the grace period after an outage). `reap_until` (a Unix time on Redis's clock):
        if Redis runs the call later than that, it neither reaps nor expires, because
        the call is stale (sent before a stall, run after it, when heartbeats and lease
        renewals could not get through)."""

    # ---- inspection API ---------------------------------------------------------------

    @abstractmethod
    def queue_names(self) -> list[str]:
        """Declared queues first, then any other queue that has been used."""

    @abstractmethod
    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]: ...

    @abstractmethod
    def list_tasks(
        self,
        queue: str,
        state: TaskState,
        offset: int,
        limit: int,
        *,
        name: str = "",
        scan: int = NAME_FILTER_SCAN,
    ) -> TaskPage:
        """A page of the tasks of `queue` in `state`, in the state's order. With `name`,
        only tasks whose path contains it, looking at `scan` positions from `offset` at
        most (the page's `next_offset` says where to continue)."""

    @abstractmethod
    def get_task(self, task_id: str) -> TaskRecord | None: ...

    @abstractmethod
    def requeue(self, task_ids: Iterable[str]) -> dict[str, str]:
        """Finished tasks back to READY. Returns id -> requeued or the refusing state."""

    @abstractmethod
    def requeue_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        """Requeue up to batch_size tasks of a finished state; returns (moved, remaining)."""

    @abstractmethod
    def purge(self, task_ids: Iterable[str], queue: str = "") -> dict[str, str]:
        """Remove tasks entirely. RUNNING ones are refused. Returns id -> outcome."""

    @abstractmethod
    def purge_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        """Purge up to batch_size tasks of a state (not RUNNING); returns (purged, remaining)."""

    @abstractmethod
    def pools(self) -> list[PoolStatus]: ...

    @abstractmethod
    def server_info(self) -> ServerInfo: ...

    @abstractmethod
    def overview(self, recent_failures: int = 5) -> Overview:
        """Server health, every queue's stats, the live pools and the newest failures, in a
        fixed number of round trips whatever the queue lengths. Raises BackendUnavailable
        when the server does not answer (unlike server_info, which reports it)."""
