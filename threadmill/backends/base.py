"""The queue-agnostic interface of a Threadmill backend: everything the pool, the admin and the
dashboard may use of a backend, and nothing about Redis. Two audiences use it:

* the worker pool (`threadmill.pool`) uses the **worker API**: wait for work, acquire a lease,
  acknowledge it (and acquire the next task in the same round trip) or put it back for a
  retry, extend a lease, wait for cancellation requests, resolve the tasks of a lost (or
  deliberately replaced) worker, heartbeat with a typed `PoolReport`, the broker's
  maintenance steps, and `prepare_worker_process` once in each worker process;
* the admin pages, the dashboard and the system checks use the **inspection API**: queue
  statistics, a page of tasks of one status, one task, the live pools, server health,
  requeue, purge and cancel.

Both may read `config` (the alias's OPTIONS, validated: a `BackendOptions`; Django's own
`options` stays the raw dict) and `display_url` (where the backend keeps its data, password
masked). The values passed and returned are in `records.py` and the `*_records.py` beside
it. Every inspection call costs work proportional to what it returns, never to queue
length; inside `display.display_reads()` (admin pages, dashboard) its reads wait at most the
alias's `admin_timeout` and are not retried.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core import checks
from django.tasks.backends.base import BaseTaskBackend

from threadmill import schedules
from threadmill.options import BackendOptions
from threadmill.task import ThreadmillTask, validate_controls

from .health_records import Overview, ServerInfo
from .job_records import BulkJob
from .metric_records import MetricMinutes, TaskMetrics
from .pool_records import HeartbeatReply, MaintenanceReport, PoolReport, PoolStatus
from .records import AckOutcome, AckResult, ControlRequest, Lease, QueueStats, TaskRecord, TaskState
from .schedule_records import ScheduleFired, ScheduleReport, ScheduleState
from .search_records import SEARCH_SCAN, ErrorGroups, IdSearch, TaskFilter, TaskPage


class ThreadmillBackend(BaseTaskBackend):
    """A `django.tasks` backend that the Threadmill pool, admin and dashboard can drive."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True
    #: `@task(...)` of this alias accepts retry, timeout, unique and expires (Django 6.1+).
    task_class = ThreadmillTask

    #: The alias's OPTIONS, validated (lease_ttl, batch_size, heartbeat_interval ...).
    config: BackendOptions
    #: Where the backend keeps its data, safe to show (the password masked).
    display_url: str

    def schedule_entries(self) -> tuple[list[schedules.Schedule], list[schedules.Problem]]:
        """The alias's periodic schedules that can be used, and the problems of the others."""
        return schedules.parse(self.config.schedules, f"TASKS[{self.alias!r}]['OPTIONS']")

    def schedule_report(self, now: datetime | None = None) -> list[ScheduleReport]:
        """Every schedule in the alias's settings, in their order, usable or not: what
        `manage.py check` says of it, what Redis knows of it, and its next slot after `now`
        (default: this machine's clock). Read by the admin, `threadmill_ctl` and top."""
        entries, problems = self.schedule_entries()
        moment = now or datetime.now(UTC)
        states = self.schedule_states([entry.name for entry in entries])
        reports: dict[str, ScheduleReport] = {}
        for bad in problems:
            reports[bad.name] = ScheduleReport(bad.name, None, bad, None, None)
        for entry in entries:
            state = states[entry.name]
            after = max(moment, state.last_slot) if state.last_slot else moment
            reports[entry.name] = ScheduleReport(
                entry.name,
                entry,
                schedules.task_problem(entry, self.alias),
                state,
                entry.next_slot(after),
            )
        raw = self.config.schedules if isinstance(self.config.schedules, dict) else {}
        order = {str(name): n for n, name in enumerate(raw)}
        return sorted(reports.values(), key=lambda r: order.get(r.name, len(order)))

    def validate_task(self, task: Any) -> None:
        """Django's checks, then the task controls (retry, timeout, unique, expires)."""
        super().validate_task(task)
        if isinstance(task, ThreadmillTask):
            validate_controls(task, self.config.lease_ttl)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """System checks of this alias: its health issues as errors and warnings."""
        messages: list[checks.CheckMessage] = list(super().check(**kwargs))
        try:
            self.config.retry_policy()
        except (ImportError, TypeError) as exc:
            messages.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]: {exc}",
                    hint="Point OPTIONS['retry'] at an importable callable (context, "
                    "exception) -> delay or None, or use a threadmill.Backoff.",
                    id="threadmill.E010",
                )
            )
        entries, problems = self.schedule_entries()
        unusable = [schedules.task_problem(entry, self.alias) for entry in entries]
        for problem in problems + [p for p in unusable if p]:
            messages.append(checks.Error(problem.message, hint=problem.hint, id=problem.id))
        for issue in self.health(where=f"TASKS[{self.alias!r}]: ").issues:
            kind = checks.Error if issue.level == "error" else checks.Warning
            messages.append(kind(issue.message, hint=issue.hint, id=issue.id))
        return messages

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
        retry_after: float | None = None,
    ) -> AckResult:
        """Store a leased task's outcome (fenced by its token) and, if next_token is given,
        lease the next task of queues in the same round trip. A failure with `retry_after`
        (seconds) puts the task back, deferred, for another attempt (unless a cancellation
        was requested: then it is FAILED)."""

    @abstractmethod
    def extend_lease(self, lease: Lease, seconds: float) -> AckOutcome:
        """Move a lease's deadline to now + seconds."""

    @abstractmethod
    def fire_schedule(
        self, schedule: schedules.Schedule, slot: datetime, mode: str = "slot"
    ) -> ScheduleFired:
        """Claim one slot of a schedule and enqueue its task, atomically (enqueued once
        however many pools call this). mode 'skip' claims a missed slot without running it;
        'now' runs the schedule once now, whatever its slots and pause."""

    @abstractmethod
    def schedule_states(self, names: Sequence[str]) -> dict[str, ScheduleState]:
        """What Redis knows of each named schedule (one round trip)."""

    @abstractmethod
    def pause_schedule(self, name: str, paused: bool) -> None:
        """Pause (its slots are recorded as skipped) or resume a schedule."""

    @abstractmethod
    def resolve_worker(self, worker_id: str, reason: str, *, charge: bool = True) -> dict[str, str]:
        """The worker is gone: requeue or fail what it held. Returns id -> outcome. With
        `charge=False` (the worker replaced itself for one task's sake), the others go back
        to READY with their attempt given back."""

    @abstractmethod
    def wait_for_control(self, worker_id: str, timeout: float) -> list[ControlRequest]:
        """Block until cancellation requests for tasks this worker process runs arrive (or
        timeout: an empty list)."""

    @abstractmethod
    def heartbeat(
        self, pool_id: str, worker_ids: Iterable[str], report: PoolReport
    ) -> HeartbeatReply:
        """Mark a pool and its workers alive for `heartbeat_ttl`, publish its report, and
        return the server's data epoch (it changes when Redis loses its data)."""

    @abstractmethod
    def remove_pool(self, pool_id: str, worker_ids: Iterable[str]) -> None:
        """A pool stopped cleanly: forget it and its workers."""

    @abstractmethod
    def record_data_loss(self, detail: str) -> None:
        """Remember that the server lost data, for checks, admin and dashboard."""

    def prepare_worker_process(self, *, spin_replies: bool) -> None:
        """Called once in each new worker process, before its task threads start.
        `spin_replies`: whether this process may busy-wait briefly for replies (the pool
        forbids it when it has a process for every usable core). Nothing to do by default."""

    @abstractmethod
    def maintain(
        self,
        queues: Sequence[str],
        *,
        reap: bool = True,
        housekeeping: bool = True,
        reap_until: float | None = None,
        pool_id: str = "",
        sample: bool = False,
    ) -> MaintenanceReport:
        """One broker step: promote due deferred tasks; with `reap`, resolve the workers of
        dead pools; with `housekeeping`, trim expired results and (with `reap`) expire
        leases. `batch_size` of each per call. `reap=False` leaves leases and workers alone
        (the grace period after an outage). `reap_until` (a Unix time on Redis's clock):
        if Redis runs the call later than that, it neither reaps nor expires, because
        the call is stale (sent before a stall, run after it, when heartbeats and lease
        renewals could not get through). With `pool_id`, the same round trip takes that
        pool's pending control requests (`request_pool`), returned in `pool_requests`.
        The report also lists the unfinished bulk jobs. With `sample` (a pool's first step
        of a minute), each queue's depth and oldest-ready age go into the run metrics."""

    # ---- operations API: steer work (admin, threadmill_ctl) ---------------------------

    @abstractmethod
    def pause_queue(self, queue: str) -> bool:
        """Pause a queue: no pool takes its tasks (running ones finish) until it is resumed;
        enqueues are still accepted. Kept in the backend, so it outlives pool restarts.
        Returns False when it was paused already."""

    @abstractmethod
    def resume_queue(self, queue: str) -> tuple[bool, int]:
        """Resume a paused queue; its ready tasks go to waiting threads at once. Returns
        (whether it was paused, how many tasks were handed to waiting threads)."""

    @abstractmethod
    def paused_queues(self) -> list[str]:
        """The paused queues, sorted."""

    @abstractmethod
    def run_now(self, task_ids: Iterable[str]) -> dict[str, str]:
        """DEFERRED tasks (waiting for their time or a retry) to READY now, same id.
        Returns id -> moved, or missing / the state that refused."""

    @abstractmethod
    def request_pool(self, pool_id: str, action: str) -> None:
        """Ask a live pool to do `action` (one of pool_records.POOL_ACTIONS); its master acts
        within about a broker_interval. Raises UnknownPool when no such pool is live."""

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
        scan: int = SEARCH_SCAN,
        retrying: bool = False,
        filter: TaskFilter | None = None,
    ) -> TaskPage:
        """A page of the tasks of `queue` in `state`, in the state's order. With a
        `filter`, only the tasks that pass it, looking at `scan` positions from `offset` at
        most (the page's `next_offset` says where to continue). With `retrying` (DEFERRED
        only), only the deferred tasks waiting for another attempt after a failure, by retry
        time."""

    @abstractmethod
    def error_groups(
        self, queue: str, state: TaskState = TaskState.FAILED, scan: int = SEARCH_SCAN
    ) -> ErrorGroups:
        """The newest `scan` tasks of `queue` in `state`, counted by their last error's class."""

    @abstractmethod
    def get_task(self, task_id: str) -> TaskRecord | None: ...

    @abstractmethod
    def find_task_ids(self, prefix: str, limit: int = 5) -> IdSearch:
        """Ids of tasks (of any queue and state) that start with prefix, at most limit of
        them, looking at `PREFIX_SCAN` index entries at most."""

    @abstractmethod
    def requeue(self, task_ids: Iterable[str]) -> dict[str, str]:
        """Finished tasks back to READY. Returns id -> requeued or the refusing state."""

    @abstractmethod
    def requeue_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        """Requeue up to batch_size tasks of a finished state; returns (moved, remaining)."""

    @abstractmethod
    def cancel(
        self, task_ids: Iterable[str], *, who: str, terminate: bool = False
    ) -> dict[str, str]:
        """Cancel tasks: a READY or deferred one ends FAILED with `Cancelled` at once; a
        RUNNING one gets a request (`terminate`: stop it now, replacing a sync task's worker
        process); a finished one is refused. Returns id -> cancelled, requested, missing or
        the finished state that refused."""

    @abstractmethod
    def purge(self, task_ids: Iterable[str], queue: str = "") -> dict[str, str]:
        """Remove tasks entirely. RUNNING ones are refused. Returns id -> outcome."""

    @abstractmethod
    def purge_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        """Purge up to batch_size tasks of a state (not RUNNING); returns (purged, remaining)."""

    # ---- bulk jobs: whole-set actions carried out by the pools' brokers ---------------

    @abstractmethod
    def create_job(
        self,
        action: str,
        queue: str,
        state: TaskState,
        filter: TaskFilter,
        *,
        who: str,
        user_id: str = "",
        retrying: bool = False,
    ) -> BulkJob:
        """Record a job that requeues, purges or cancels every task of `queue` in `state`
        that passes `filter` (and was there when the job was created); with `retrying`,
        of the retrying subset of the DEFERRED tasks. The pools carry it
        out (`run_job_chunk`); raises ValueError for an action a state does not allow."""

    @abstractmethod
    def get_job(self, job_id: str) -> BulkJob | None: ...

    @abstractmethod
    def jobs(self) -> list[BulkJob]:
        """The recent jobs, newest first (finished ones are kept for a week)."""

    @abstractmethod
    def cancel_job(self, job_id: str, who: str) -> str:
        """Stop an unfinished job (what it did stays done); returns its status after."""

    @abstractmethod
    def run_job_chunk(self, job_id: str) -> tuple[str, int, int]:
        """Carry out the next chunk of a job (a bounded, atomic step that never acts on a
        task twice); returns (status after, tasks examined, tasks acted on)."""

    @abstractmethod
    def claim_job_log(self, job_id: str) -> bool:
        """True once per job: the caller writes its audit entry."""

    @abstractmethod
    def pools(self) -> list[PoolStatus]:
        """The live pools (and the stale ones not yet reaped), as their last reports say."""

    @abstractmethod
    def server_info(self) -> ServerInfo:
        """The server's facts and health issues; reports an unreachable server, never
        raises for it."""

    @abstractmethod
    def health(self, where: str = "") -> ServerInfo:
        """server_info for `manage.py check`: waits about a second at most, never retries;
        `where` prefixes every issue's message."""

    @abstractmethod
    def overview(self, recent_failures: int = 5) -> Overview:
        """Server health, every queue's stats, the live pools and the newest failures, in a
        fixed number of round trips whatever the queue lengths. Raises BackendUnavailable
        when the server does not answer (unlike server_info, which reports it)."""

    def metrics_minutes(self, minutes: int = 60) -> MetricMinutes:
        """Runs acknowledged per minute and queue over the last `minutes` minutes (Redis
        time; at most metrics_window), oldest first. One round trip."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run metrics")

    def task_metrics(
        self,
        *,
        span: float | None = 3600.0,
        queue: str = "",
        path: str = "",
        failures: int = 0,
    ) -> list[TaskMetrics]:
        """Run metrics per (queue, task path) that ran in the last `span` seconds (None: the
        totals since each was first seen, as Prometheus counters need), with up to
        `failures` of the newest failed attempts each; `queue` / `path` narrow it to one.
        One round trip; cost O(task paths x minutes in span)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run metrics")
