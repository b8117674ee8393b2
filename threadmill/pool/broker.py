"""The master's Redis duties: heartbeats, maintenance, resolving dead workers.

Called from the master's loop (the master stays single-threaded so that forking is safe):

* **heartbeat** every `heartbeat_interval`: marks the pool and its workers alive for
  `heartbeat_ttl` and publishes what each thread runs (read from shared memory, so a task
  holding the GIL cannot silence it); detects a Redis that lost its data (epoch changed);
* **maintenance**: promote due deferred tasks every `broker_interval`; every
  `heartbeat_interval` reap the workers of pools that stopped sending heartbeats; every five
  heartbeat intervals expire leases and trim expired results. Several pools may do this at
  once: every step is an idempotent script;
* **resolution** of a dead worker's tasks, retried until Redis answers;
* **control requests** for this pool (quiet, stop, ...; see `remote.py`), taken in the
  same round trip as the maintenance every `broker_interval`;
* **periodic schedules** every `broker_interval`: each due slot enqueued once (`periodic.py`;
  not in a pool started with `--exit-empty`, a one-off drain);
* **bulk jobs** (admin / `threadmill_ctl` whole-set actions): the maintenance step says
  which are unfinished; one chunk of each, then again every JOB_PAUSE while some remain
  (`jobs.py`);
* **the drain check** of a pool started with `--exit-empty`, once its workers found the
  queues empty: is there work now, later (tasks waiting for a retry) or none
  (`work_available`).

How long a task may run before the master kills its worker follows from when the broker
expires leases (`lease_limit`).

After Redis was unreachable, reaping waits one `heartbeat_ttl`: every pool was cut off too,
and must get the chance to heartbeat before anyone declares it dead. A reaping call that
Redis only runs after a stall (it was sent before, and the client gave up on it) is refused
by Redis itself: it carries a deadline on Redis's clock (`reap_until`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.pool_records import PoolReport
from threadmill.exceptions import BackendUnavailable, ThreadmillError

from .jobs import BulkJobs
from .periodic import Periodic

logger = logging.getLogger("threadmill")
T = TypeVar("T")

#: Expiring leases and trimming expired results happens every this many heartbeat
#: intervals: both deal in lease_ttl / result_ttl, which are long.
HOUSEKEEPING_HEARTBEATS = 5
#: Pause between bulk-job steps while jobs remain (the master serves its workers between
#: chunks); the jobs to run are refreshed by every maintenance step.
JOB_PAUSE = 0.01


class Broker:
    def __init__(
        self,
        backend: ThreadmillBackend,
        pool_id: str,
        queues: Sequence[str],
        *,
        schedules: bool = True,
    ):
        self.backend = backend
        self.pool_id = pool_id
        self.queues = list(queues)
        self.config = backend.config
        self.epoch = ""
        self.skew_seconds = 0.0
        # worker id -> (reason, charge): resolutions not yet stored
        self.pending: dict[str, tuple[str, bool]] = {}
        self._last_contact = time.monotonic()
        self._grace_until = 0.0
        self._next_heartbeat = 0.0
        self._next_maintenance = 0.0
        self._next_housekeeping = 0.0
        self._next_reap = 0.0
        self._unreachable_logged = False
        self._requests: list[str] = []
        grace = 2 * self.config.broker_interval
        self.periodic = Periodic(backend, grace) if schedules else None
        self.bulk_jobs = BulkJobs(backend)
        self._next_job_step = 0.0
        self._sampled_minute = -1  # the minute (Redis time) whose queue depths were sampled

    @property
    def lease_limit(self) -> float:
        """Seconds a task may run before the master kills its worker: late enough that the
        broker has marked the task FAILED (AcknowledgementTimeout) first, since leases are
        expired every HOUSEKEEPING_HEARTBEATS heartbeat intervals."""
        c = self.config
        return (
            c.lease_ttl
            + c.heartbeat_ttl
            + HOUSEKEEPING_HEARTBEATS * max(c.broker_interval, c.heartbeat_interval)
        )

    def work_available(self, queues: Sequence[str]) -> str:
        """For --exit-empty: "now" (ready or due tasks), "later" (tasks waiting for their
        retry: a drain finishes them) or "none". A paused queue's tasks do not count."""
        try:
            stats = [s for s in self.backend.queue_stats(queues) if not s.paused]
        except BackendUnavailable as exc:
            logger.warning("Cannot check the queues: %s", exc)
            return "now"
        if any(
            s.ready or (s.next_deferred_at and s.next_deferred_at <= s.measured_at) for s in stats
        ):
            return "now"
        return "later" if any(s.retrying for s in stats) else "none"

    def next_due(self) -> float:
        """Monotonic time of the next duty, for the master's sleep."""
        due = min(self._next_heartbeat, self._next_maintenance)
        if self.bulk_jobs.busy:  # bulk jobs unfinished: their next chunks soon
            due = min(due, self._next_job_step)
        return min(due, time.monotonic() + 0.2) if self.pending else due

    def _was_silent(self) -> bool:
        silent = time.monotonic() - self._last_contact
        return silent > self.config.heartbeat_interval * 2 + self.config.socket_timeout

    def _contact(self) -> None:
        now = time.monotonic()
        silent = now - self._last_contact
        if self._was_silent():
            self._grace_until = now + self.config.heartbeat_ttl
            logger.warning(
                "Redis answers again after %.1fs; not reaping other pools' workers for "
                "%.1fs (heartbeat_ttl) so they can report in",
                silent,
                self.config.heartbeat_ttl,
            )
        if self._unreachable_logged:
            logger.info("Redis is reachable again")
            self._unreachable_logged = False
        self._last_contact = now

    def _attempt(self, duty: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run one Redis duty; None when it failed (it is retried at its next turn). Never
        lets a failure take the master down."""
        try:
            result = duty(*args, **kwargs)
        except BackendUnavailable as exc:
            self._unreachable(exc)
            return None
        except Exception:
            logger.exception("Pool %s: a Redis duty failed; it is retried", self.pool_id)
            return None
        self._contact()
        return result

    def _unreachable(self, exc: Exception) -> None:
        if not self._unreachable_logged:
            logger.error("Pool %s: %s; retrying", self.pool_id, exc)
            self._unreachable_logged = True

    def resolve(self, worker_id: str, reason: str, *, charge: bool = True) -> None:
        """Queue a dead worker's tasks for resolution (done at once if Redis answers).
        charge=False: it exited on purpose for one task's sake; the rest are not charged."""
        self.pending[worker_id] = (reason, charge)
        self.flush_resolutions()

    def flush_resolutions(self) -> None:
        for worker_id, (reason, charge) in list(self.pending.items()):
            try:
                outcomes = self.backend.resolve_worker(worker_id, reason, charge=charge)
            except BackendUnavailable as exc:
                self._unreachable(exc)
                return
            except Exception:  # never let a resolution take the master down
                logger.exception("Pool %s: resolving %s failed; retrying", self.pool_id, worker_id)
                return
            self._contact()
            del self.pending[worker_id]
            for task_id, outcome in outcomes.items():
                if outcome == "requeued":
                    logger.warning("Task %s requeued: %s", task_id, reason)
                elif outcome == "cancelled":
                    logger.warning("Task %s FAILED with Cancelled (requested): %s", task_id, reason)
                elif outcome == "released":
                    logger.info("Task %s requeued, attempt not charged: %s", task_id, reason)
                elif outcome == "failed":
                    logger.error("Task %s FAILED with WorkerLost: %s", task_id, reason)

    def tick(self, report: PoolReport, worker_ids: Sequence[str], *, force: bool = False) -> None:
        """Do whichever duties are due."""
        now = time.monotonic()
        if self.pending:
            self.flush_resolutions()
        if force or now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.heartbeat_interval
            self._heartbeat(report, worker_ids)
        if now >= self._next_maintenance:
            self._next_maintenance = now + self.config.broker_interval
            reap = now >= self._next_reap
            if reap:
                self._next_reap = now + max(
                    self.config.broker_interval, self.config.heartbeat_interval
                )
            housekeeping = now >= self._next_housekeeping
            if housekeeping:
                self._next_housekeeping = now + HOUSEKEEPING_HEARTBEATS * max(
                    self.config.broker_interval, self.config.heartbeat_interval
                )
            self._maintain(reap, housekeeping)
            if self.periodic is not None:
                self.periodic.tick(time.time() - self.skew_seconds)
        elif self.bulk_jobs.busy and now >= self._next_job_step:
            self._job_step(self.bulk_jobs.pending)

    def _job_step(self, active: Sequence[str]) -> None:
        """One chunk of each unfinished bulk job; the next step after JOB_PAUSE."""
        self.bulk_jobs.tick(active)
        self._next_job_step = time.monotonic() + JOB_PAUSE

    def _heartbeat(self, report: PoolReport, worker_ids: Sequence[str]) -> None:
        report = replace(report, skew_seconds=round(self.skew_seconds, 3))
        sent = time.time()
        reply = self._attempt(self.backend.heartbeat, self.pool_id, worker_ids, report)
        if reply is None:
            return
        received = time.time()
        self.skew_seconds = (sent + received) / 2 - reply.now.timestamp()
        if self.epoch and reply.epoch != self.epoch:
            detail = (
                f"the data epoch changed from {self.epoch} to {reply.epoch}: Redis restarted "
                "without persistence, was flushed or failed over to a replica that lacked "
                "writes; tasks queued before may be lost"
            )
            logger.critical("Redis data loss detected: %s", detail)
            try:
                self.backend.record_data_loss(detail)
            except ThreadmillError as exc:
                self._unreachable(exc)
        self.epoch = reply.epoch

    def _maintain(self, reap: bool, housekeeping: bool) -> None:
        # Just back from an outage (not yet noticed by _contact) counts as the grace period.
        reap = reap and time.monotonic() >= self._grace_until and not self._was_silent()
        # Redis runs a call it received before a stall once the stall ends, long after this
        # client gave up on it: such a call must not reap, since no heartbeat got through
        # meanwhile. Allowed: one socket_timeout past now, on Redis's clock.
        reap_until = time.time() - self.skew_seconds + self.config.socket_timeout
        minute = int((time.time() - self.skew_seconds) // 60)  # on Redis's clock
        report = self._attempt(
            self.backend.maintain,
            self.queues,
            reap=reap,
            housekeeping=housekeeping,
            reap_until=reap_until,
            pool_id=self.pool_id,
            sample=minute != self._sampled_minute,
        )
        if report is None:
            return
        self._sampled_minute = minute
        self._requests += report.pool_requests
        for task_id in report.expired:
            logger.error(
                "Task %s FAILED with AcknowledgementTimeout: not acknowledged within "
                "lease_ttl (%gs)",
                task_id,
                self.config.lease_ttl,
            )
        for worker_id, count in report.reaped_workers.items():
            logger.warning(
                "Worker %s stopped sending heartbeats; resolved its %d task(s)", worker_id, count
            )
        if report.promoted:
            logger.debug("Promoted %d deferred task(s)", report.promoted)
        if report.active_jobs or self.bulk_jobs.busy:
            self._job_step(report.active_jobs)

    def take_requests(self) -> list[str]:
        """The control requests taken since the last call, oldest first."""
        taken, self._requests = self._requests, []
        return taken

    def remove(self, worker_ids: Sequence[str]) -> None:
        """Clean shutdown: forget this pool in Redis (best effort)."""
        try:
            self.backend.remove_pool(self.pool_id, worker_ids)
        except ThreadmillError as exc:
            logger.warning("Pool %s could not unregister: %s", self.pool_id, exc)
