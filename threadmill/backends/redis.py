"""RedisTaskBackend: Django's task API and Threadmill's backend interface on Redis.

Configuration (`settings.TASKS[alias]`): `REDIS_URL` and `OPTIONS` (see
`threadmill.options`). Every state change is one call of a Lua script in `lua/` (atomic,
Redis time, idempotent under retries), made through its typed wrapper (`scripts.py`) on the
alias's store (`store.py`). Enqueues are carried out by `producer.Producer`, the
inspection API by `inspection.RedisInspection`, both on the same store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.tasks import Task, TaskResult
from django.tasks.exceptions import TaskResultDoesNotExist

from threadmill import schedules
from threadmill.options import BackendOptions

from . import spin as reply_spin
from .base import ThreadmillBackend
from .controls import RedisControls, decode_requests
from .health_records import Overview, ServerInfo
from .inspection import RedisInspection
from .job_records import BulkJob
from .jobs import RedisJobs
from .metric_records import MetricMinutes, TaskMetrics
from .pool_records import HeartbeatReply, MaintenanceReport, PoolReport, PoolStatus
from .prefix_search import find_task_ids
from .producer import Producer
from .records import AckOutcome, AckResult, ControlRequest, Lease, QueueStats, TaskRecord, TaskState
from .redis_records import (
    lease_from_reply,
    record_from_hash,
    report_to_json,
    result_from_record,
    to_ms,
)
from .schedule_reads import read_schedule_states
from .schedule_records import ScheduleFired, ScheduleState
from .search_records import SEARCH_SCAN, ErrorGroups, IdSearch, TaskFilter, TaskPage
from .store import RedisStore
from .topology import parse_url

#: What request_stop puts in a parked thread's mailbox (a lease is a JSON array).
STOP_REQUEST = "stop"


class RedisTaskBackend(ThreadmillBackend):
    """A durable Redis backend for `django.tasks`; see docs/backend.md."""

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        url = params.get("REDIS_URL")
        if not url or not isinstance(url, str):
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}] needs a REDIS_URL, e.g. 'redis://localhost:6379/0' "
                f"(got {url!r})."
            )
        try:
            target = parse_url(url)
        except ValueError as exc:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['REDIS_URL'] {exc}.") from exc
        self.config = BackendOptions.from_settings(alias, params.get("OPTIONS"))
        self.store = RedisStore(alias, target, self.config)
        self.display_url = self.store.display_url
        self.keys = self.store.keys  # key names, for tests and tools that look at Redis
        self._scripts = self.store.scripts
        self._inspection = RedisInspection(self.store, self.queues)
        self._controls = RedisControls(self.store)
        self._jobs = RedisJobs(self.store)
        self._producer = Producer(
            alias,
            self.store,
            self.config,
            type(self),
            validate=lambda task: self.validate_task(task),  # late-bound: overridable
            read_result=lambda task_id: self.get_result(task_id),
        )

    # ---- Django's task API --------------------------------------------------------------

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Store a task in Redis; when this returns, the task is durable (see guarantees),
        unless `enqueue_on_commit` holds it until the current transaction commits."""
        return self._producer.enqueue(task, args, kwargs)

    def enqueue_many(self, task: Task, calls: Iterable[tuple[Any, Any]]) -> list[TaskResult]:
        """Enqueue one task with many (args, kwargs) pairs in as few round trips as possible
        (validated first, chunks of 500 written atomically, one pipelined round trip)."""
        return self._producer.enqueue_many(task, calls)

    def get_result(self, result_id: str) -> TaskResult:
        with self.store.translate():
            fields = self.store.client.hgetall(self.keys.task(result_id))
        if not fields:
            raise TaskResultDoesNotExist(result_id)
        return result_from_record(record_from_hash(result_id, fields), self.alias)

    # ---- worker API ---------------------------------------------------------------------

    def prepare_worker_process(self, *, spin_replies: bool) -> None:
        reply_spin.allow(spin_replies)  # the whole process: a task's own enqueues too

    def park(self, worker_id: str, queues: Sequence[str], token: str, mailbox: str) -> Lease | None:
        call = self._scripts.park(worker_id=worker_id, token=token, mailbox=mailbox, queues=queues)
        return self.store.run_hot(call)

    def wait_for_lease(self, mailbox: str, timeout: float) -> Lease | None:
        with self.store.translate():
            reply = self.store.blocking_client.blpop([self.keys.mailbox(mailbox)], timeout=timeout)
        if reply is None or reply[1] == STOP_REQUEST:
            return None
        return lease_from_reply(reply[1])

    def unpark(self, worker_id: str, mailbox: str, token: str) -> Lease | None:
        call = self._scripts.unpark(worker_id=worker_id, mailbox=mailbox, token=token)
        return self.store.run_hot(call)

    def request_stop(self, mailboxes: Iterable[str]) -> None:
        with self.store.translate():
            pipe = self.store.client.pipeline(transaction=False)
            for mailbox in mailboxes:
                pipe.rpush(self.keys.mailbox(mailbox), STOP_REQUEST)
            pipe.execute()

    def acquire(self, worker_id: str, queues: Sequence[str], token: str) -> Lease | None:
        call = self._scripts.acquire(worker_id=worker_id, token=token, queues=queues)
        return self.store.run_hot(call, spin=True)

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
        if succeeded:
            status, retry_ms = "SUCCESSFUL", None
        elif retry_after is None:
            status, retry_ms = "FAILED", None
        else:
            status, retry_ms = "RETRY", round(retry_after * 1000)
        call = self._scripts.acknowledge(
            worker_id=worker_id,
            next_token=next_token,
            task_id=lease.task_id,
            token=lease.token,
            status=status,
            value=value_json,
            queues=queues,
            retry_ms=retry_ms,
        )
        return self.store.run_hot(call, spin=True)

    def extend_lease(self, lease: Lease, seconds: float) -> AckOutcome:
        call = self._scripts.extend_lease(
            task_id=lease.task_id, token=lease.token, ms=int(seconds * 1000)
        )
        return self.store.run(call)

    def resolve_worker(self, worker_id: str, reason: str, *, charge: bool = True) -> dict[str, str]:
        call = self._scripts.resolve_worker(worker_id=worker_id, reason=reason, charge=charge)
        return self.store.run(call)

    def fire_schedule(
        self, schedule: schedules.Schedule, slot: datetime, mode: str = "slot"
    ) -> ScheduleFired:
        task = schedules.scheduled_task(schedule, self.alias)
        call = self._scripts.schedule(
            name=schedule.name,
            queue=task.queue_name,
            slot_ms=to_ms(slot),
            mode=mode,
            overlap=schedule.overlap,
            task=self._producer.new_task(task, schedule.args, schedule.kwargs),
        )
        reply = self.store.run(call)
        return ScheduleFired(reply.outcome, reply.task_id, reply.now)

    def schedule_states(self, names: Sequence[str]) -> dict[str, ScheduleState]:
        return read_schedule_states(self.store, self.keys, names)

    def pause_schedule(self, name: str, paused: bool) -> None:
        with self.store.translate():
            self.store.client.hset(self.keys.schedule(name), "paused", "1" if paused else "0")

    def wait_for_control(self, worker_id: str, timeout: float) -> list[ControlRequest]:
        return self._controls.wait_for_control(worker_id, timeout)

    def heartbeat(
        self, pool_id: str, worker_ids: Iterable[str], report: PoolReport
    ) -> HeartbeatReply:
        # A fresh epoch candidate each time: after a data loss the epoch in Redis changes.
        call = self._scripts.heartbeat(
            pool_id=pool_id,
            report=report_to_json(report),
            epoch=uuid.uuid4().hex,
            worker_ids=list(worker_ids),
        )
        return self.store.run(call)

    def remove_pool(self, pool_id: str, worker_ids: Iterable[str]) -> None:
        self.store.run(self._scripts.remove_pool(pool_id=pool_id, worker_ids=list(worker_ids)))

    def record_data_loss(self, detail: str) -> None:
        with self.store.translate():
            now = self.store.client.time()
            self.store.client.hset(
                self.keys.meta,
                mapping={"lost_at": now[0] * 1000 + now[1] // 1000, "lost_detail": detail},
            )

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
        s = self._scripts
        until = None if reap_until is None else int(reap_until * 1000)
        steps: dict[str, Any] = {"promote": s.promote(queues=queues)}
        if housekeeping:
            steps["trim"] = s.trim_results(queues=queues)
        if housekeeping and reap:
            steps["expire"] = s.expire_leases(until_ms=until, queues=queues)
        if reap:
            steps["reap"] = s.reap_workers(until_ms=until)
        if sample and self.config.metrics_window:
            steps["sample"] = s.sample_queues(queues=queues)
        reads = [("smembers", (self.keys.active_jobs,))]
        if pool_id:
            reads.append(self._controls.take_requests_read(pool_id))
        replies = self.store.run_many(list(steps.values()), reads)
        done = dict(zip(steps, replies, strict=False))
        return MaintenanceReport(
            active_jobs=sorted(replies[len(steps)]),
            pool_requests=decode_requests(replies[len(steps) + 1] if pool_id else None),
            promoted=done["promote"],
            trimmed=done.get("trim", 0),
            expired=done.get("expire", []),
            reaped_workers={w: int(n) for w, n in done.get("reap", {}).items()},
            sampled=done.get("sample", 0),
        )

    # ---- operations: carried out by RedisControls on the same store ---------------------

    def pause_queue(self, queue: str) -> bool:
        return self._controls.pause_queue(queue)

    def resume_queue(self, queue: str) -> tuple[bool, int]:
        return self._controls.resume_queue(queue)

    def paused_queues(self) -> list[str]:
        return self._controls.paused_queues()

    def run_now(self, task_ids: Iterable[str]) -> dict[str, str]:
        return self._controls.run_now(task_ids)

    def request_pool(self, pool_id: str, action: str) -> None:
        self._controls.request_pool(pool_id, action)

    # ---- inspection API: carried out by RedisInspection on the same store ---------------

    def queue_names(self) -> list[str]:
        return self._inspection.queue_names()

    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        return self._inspection.queue_stats(queues)

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
        return self._inspection.list_tasks(
            queue, state, offset, limit, scan=scan, retrying=retrying, filter=filter
        )

    def error_groups(
        self, queue: str, state: TaskState = TaskState.FAILED, scan: int = SEARCH_SCAN
    ) -> ErrorGroups:
        return self._inspection.error_groups(queue, state, scan)

    def get_task(self, task_id: str) -> TaskRecord | None:
        return self._inspection.get_task(task_id)

    def find_task_ids(self, prefix: str, limit: int = 5) -> IdSearch:
        return find_task_ids(self.store, self.queue_names(), prefix, limit)

    def requeue(self, task_ids: Iterable[str]) -> dict[str, str]:
        return self._inspection.requeue(task_ids)

    def requeue_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        return self._inspection.requeue_batch(queue, state)

    def cancel(
        self, task_ids: Iterable[str], *, who: str, terminate: bool = False
    ) -> dict[str, str]:
        ids = list(dict.fromkeys(task_ids))
        outcomes: dict[str, str] = {}
        for start in range(0, len(ids), self.config.batch_size):
            chunk = ids[start : start + self.config.batch_size]
            call = self._scripts.cancel(ids=chunk, who=who, terminate=terminate)
            outcomes.update(self.store.run(call))
        return outcomes

    def purge(self, task_ids: Iterable[str], queue: str = "") -> dict[str, str]:
        return self._inspection.purge(task_ids, queue)

    def purge_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        return self._inspection.purge_batch(queue, state)

    # ---- bulk jobs: carried out by RedisJobs on the same store --------------------------

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
        return self._jobs.create(
            action, queue, state, filter, who=who, user_id=user_id, retrying=retrying
        )

    def get_job(self, job_id: str) -> BulkJob | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[BulkJob]:
        return self._jobs.recent()

    def cancel_job(self, job_id: str, who: str) -> str:
        return self._jobs.cancel(job_id, who)

    def run_job_chunk(self, job_id: str) -> tuple[str, int, int]:
        reply = self._jobs.chunk(job_id)
        return reply.status, reply.examined, reply.acted

    def claim_job_log(self, job_id: str) -> bool:
        return self._jobs.claim_log(job_id)

    def pools(self) -> list[PoolStatus]:
        return self._inspection.pools()

    def server_info(self) -> ServerInfo:
        return self._inspection.server_info()

    def health(self, where: str = "") -> ServerInfo:
        return self._inspection.health(where)

    def overview(self, recent_failures: int = 5) -> Overview:
        return self._inspection.overview(recent_failures)

    def metrics_minutes(self, minutes: int = 60) -> MetricMinutes:
        window = max(1, int(self.config.metrics_window // 60))
        call = self._scripts.metrics_minutes(minutes=max(1, min(int(minutes), window)))
        return self.store.run(call, read=True)

    def task_metrics(
        self,
        *,
        span: float | None = 3600.0,
        queue: str = "",
        path: str = "",
        failures: int = 0,
    ) -> list[TaskMetrics]:
        range_ms = 0 if span is None else max(60_000, round(span * 1000))
        if span is not None:
            range_ms = min(range_ms, max(60_000, self.config.ms("metrics_window")))
        call = self._scripts.metrics_series(
            range_ms=range_ms, failures=max(0, int(failures)), queue=queue, path=path
        )
        return self.store.run(call, read=True)  # its only write forgets stale series
