"""One typed Python wrapper per Lua script: named arguments in, a `Call` out.

A wrapper builds the KEYS and ARGV its script's header declares, in that order (parameters
that map to one argument have its name: `task_id`, `token`, `queues`), and the `decode` that
turns the script's reply into a typed value. It does not run anything: the store runs a
`Call` alone, pipelined with others, or on a thread's own connection (`store.py`), so the
same wrapper serves the per-task path and the admin. tests/test_script_contract.py holds
every wrapper to its script's header.

The options every call repeats (lease_ttl, batch_size, result_ttl ...) come from the alias's
`BackendOptions`; the parts of a worker's calls that never change are encoded once
(`Packed`, see hotpath.py). `Call`, the encoded arguments and the typed replies with their
decoders are `script_values.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from threadmill.options import BackendOptions

from .hotpath import Packed
from .keys import RETRYING_INDEX, STATUS_INDEXES, Keys
from .lua import load_scripts
from .metric_records import MetricMinutes, TaskMetrics, minutes_from_reply, series_from_reply
from .pool_records import HeartbeatReply
from .records import AckOutcome, AckResult, Lease, QueueStats, TaskState
from .redis_records import from_ms, queue_stats_from_reply
from .script_values import (
    Call,
    ChunkReply,
    EnqueueReply,
    NewTask,
    Page,
    ScheduleReply,
    as_is,
    blank,
    decode_ack,
    decode_chunk,
    decode_enqueue,
    decode_error_groups,
    decode_heartbeat,
    decode_lease,
    decode_pairs,
    decode_schedule,
    filter_args,
    page_decoder,
)
from .search_records import ErrorGroups, TaskFilter

#: Window of "successful / failed in the last minute" in queue_stats.
RECENT_WINDOW_MS = 60_000
#: Runs of a schedule kept in its runs list.
SCHEDULE_HISTORY = 20


class Scripts:
    """The wrappers of one alias's scripts (keys and options bound)."""

    def __init__(self, keys: Keys, config: BackendOptions) -> None:
        self.keys = keys
        self.config = config
        self.lua = load_scripts()
        self._base = keys.base
        self._lease = (config.ms("lease_ttl"), config.batch_size, config.ms("result_ttl"))
        self._metrics_ms = config.ms("metrics_window")
        self._worker_args: dict[tuple, tuple[str, Packed, Packed, Packed]] = {}

    def _for_worker(self, worker_id: str, queues: Sequence[str]) -> tuple:
        """What a worker's acquire / park / acknowledge calls repeat, encoded once: (its
        leases key, [base, worker_id], [lease_ms, batch, result_ttl_ms], [queues...])."""
        key = (worker_id, tuple(queues))
        found = self._worker_args.get(key)
        if found is None:
            if len(self._worker_args) > 64:
                self._worker_args.clear()
            found = self._worker_args[key] = (
                self.keys.leases(worker_id),
                Packed.of(self._base, worker_id),
                Packed.of(*self._lease),
                Packed.of(*queues),
            )
        return found

    # ---- the per-task path --------------------------------------------------------------

    def enqueue(self, *, queue: str, tasks: Sequence[NewTask]) -> Call[EnqueueReply]:
        """Create tasks in queue (unless an equal unique task is live)."""
        args: list[Any] = [self._base, queue]
        for t in tasks:
            context = "1" if t.takes_context else "0"
            args += [
                t.id,
                t.path,
                t.priority,
                context,
                blank(t.run_after_ms),
                t.args_json,
                t.kwargs_json,
                blank(t.timeout_ms),
                blank(t.expires_ms),
                t.unique_digest,
            ]
        keys = [self.keys.task(t.id) for t in tasks]
        return Call(self.lua["enqueue"], keys, args, decode_enqueue)

    def schedule(
        self,
        *,
        name: str,
        queue: str,
        slot_ms: int,
        mode: str,
        overlap: bool,
        task: NewTask,
    ) -> Call[ScheduleReply]:
        """Claim a schedule's slot and enqueue its task in one call (see schedule.lua)."""
        args = [
            self._base,
            queue,
            name,
            slot_ms,
            mode,
            "1" if overlap else "0",
            SCHEDULE_HISTORY,
            task.id,
            task.path,
            task.priority,
            "1" if task.takes_context else "0",
            task.args_json,
            task.kwargs_json,
            blank(task.timeout_ms),
            blank(task.expires_ms),
            task.unique_digest,
        ]
        keys = [self.keys.schedule(name), self.keys.schedule_runs(name), self.keys.task(task.id)]
        return Call(self.lua["schedule"], keys, args, decode_schedule)

    def acquire(self, *, worker_id: str, token: str, queues: Sequence[str]) -> Call[Lease | None]:
        leases, worker, constants, listened = self._for_worker(worker_id, queues)
        return Call(
            self.lua["acquire"], [leases], [worker, token, constants, listened], decode_lease
        )

    def park(
        self, *, worker_id: str, token: str, mailbox: str, queues: Sequence[str]
    ) -> Call[Lease | None]:
        leases, worker, constants, listened = self._for_worker(worker_id, queues)
        args = [worker, token, constants, mailbox, listened]
        return Call(self.lua["park"], [leases], args, decode_lease)

    def unpark(self, *, worker_id: str, mailbox: str, token: str) -> Call[Lease | None]:
        keys = [self.keys.leases(worker_id)]
        return Call(self.lua["unpark"], keys, [self._base, mailbox, token], decode_lease)

    def acknowledge(
        self,
        *,
        worker_id: str,
        next_token: str,
        task_id: str,
        token: str,
        status: str,
        value: str,
        queues: Sequence[str],
        retry_ms: int | None = None,
    ) -> Call[AckResult]:
        leases, worker, constants, listened = self._for_worker(worker_id, queues)
        args = [
            worker,
            next_token,
            constants,
            task_id,
            token,
            status,
            value,
            blank(retry_ms),
            self._metrics_ms,
            listened,
        ]
        return Call(self.lua["acknowledge"], [leases, self.keys.task(task_id)], args, decode_ack)

    def extend_lease(self, *, task_id: str, token: str, ms: int) -> Call[AckOutcome]:
        args = [self._base, task_id, token, ms]
        return Call(
            self.lua["extend_lease"], [self.keys.task(task_id)], args, lambda r: AckOutcome(r[0])
        )

    # ---- the pool's master: heartbeats, lost workers, maintenance ------------------------

    def heartbeat(
        self, *, pool_id: str, report: str, epoch: str, worker_ids: Sequence[str]
    ) -> Call[HeartbeatReply]:
        k = self.keys
        keys = [k.workers, k.pools, k.pool(pool_id), k.meta]
        args = [pool_id, self.config.ms("heartbeat_ttl"), report, epoch, *worker_ids]
        return Call(self.lua["heartbeat"], keys, args, decode_heartbeat)

    def remove_pool(self, *, pool_id: str, worker_ids: Sequence[str]) -> Call[Any]:
        keys = [self.keys.workers, self.keys.pools, self.keys.pool(pool_id)]
        return Call(self.lua["remove_pool"], keys, [pool_id, *worker_ids], as_is)

    def resolve_worker(
        self, *, worker_id: str, reason: str, charge: bool = True
    ) -> Call[dict[str, str]]:
        o = self.config
        keys = [self.keys.workers, self.keys.leases(worker_id)]
        charged = "1" if charge else "0"
        args = [self._base, worker_id, reason, o.max_attempts, o.ms("result_ttl"), charged]
        return Call(self.lua["resolve_worker"], keys, args, decode_pairs)

    def promote(self, *, queues: Sequence[str]) -> Call[int]:
        args = [self._base, self.config.batch_size, *queues]
        return Call(self.lua["promote"], [self.keys.due], args, int)

    def sample_queues(self, *, queues: Sequence[str]) -> Call[int]:
        """Once a minute: each queue's depth and oldest-ready age into the run metrics."""
        args = [self._base, self._metrics_ms, *queues]
        return Call(self.lua["sample_queues"], [self.keys.metrics_series], args, int)

    def trim_results(self, *, queues: Sequence[str]) -> Call[int]:
        keys = [self.keys.index(q, status) for q in queues for status in ("successful", "failed")]
        args = [self.config.ms("result_ttl"), self.config.batch_size]
        return Call(self.lua["trim_results"], keys, args, int)

    def expire_leases(self, *, until_ms: int | None, queues: Sequence[str]) -> Call[list[str]]:
        o = self.config
        until = "" if until_ms is None else until_ms
        args = [self._base, o.batch_size, o.ms("result_ttl"), o.ms("lease_ttl"), until, *queues]
        keys = [self.keys.index(q, "running") for q in queues]
        return Call(self.lua["expire_leases"], keys, args, list)

    def reap_workers(self, *, until_ms: int | None) -> Call[dict[str, int]]:
        o = self.config
        until = "" if until_ms is None else until_ms
        args = [self._base, o.batch_size, o.max_attempts, o.ms("result_ttl"), until]
        return Call(
            self.lua["reap_workers"], [self.keys.workers, self.keys.pools], args, decode_pairs
        )

    # ---- inspection and repair ----------------------------------------------------------

    def queue_stats(
        self, *, queues: Sequence[str], window_ms: int = RECENT_WINDOW_MS
    ) -> Call[list[QueueStats]]:
        keys = [self.keys.stats, self.keys.paused]
        for queue in queues:
            keys += [self.keys.index(queue, s) for s in (*STATUS_INDEXES, RETRYING_INDEX)]
        names = list(queues)
        return Call(
            self.lua["queue_stats"],
            keys,
            [self._base, window_ms, *names],
            lambda reply: queue_stats_from_reply(names, reply),
        )

    def metrics_minutes(self, *, minutes: int) -> Call[MetricMinutes]:
        """Runs per minute and queue over the last `minutes` minutes."""
        keys = [self.keys.metrics_series]
        return Call(self.lua["metrics_minutes"], keys, [self._base, minutes], minutes_from_reply)

    def metrics_series(
        self, *, range_ms: int, failures: int, queue: str = "", path: str = ""
    ) -> Call[list[TaskMetrics]]:
        """Run metrics per (queue, task path) over the last range_ms (0: all time)."""
        args = [self._base, range_ms, self._metrics_ms, failures, queue, path]
        keys = [self.keys.metrics_series]
        return Call(self.lua["metrics_series"], keys, args, series_from_reply)

    def page(
        self,
        *,
        queue: str,
        state: TaskState,
        offset: int,
        limit: int,
        index: str = "",
    ) -> Call[Page]:
        """A page of the state's index, or of `index` (RETRYING_INDEX: a subset of the
        deferred one, in the same order)."""

        newest = "1" if state.newest_first else "0"
        args = [self._base, offset, limit, newest]
        key = self.keys.index(queue, index or state.slug)
        return Call(self.lua["page"], [key], args, page_decoder(queue, state))

    def search(
        self,
        *,
        queue: str,
        state: TaskState,
        offset: int,
        limit: int,
        scan: int,
        filter: TaskFilter,
        index: str = "",
    ) -> Call[Page]:
        """Like `page`, only the tasks that pass `filter`, examining `scan` positions at
        most."""

        newest = "1" if state.newest_first else "0"
        args = [self._base, offset, limit, newest, scan, *filter_args(filter, state)]
        key = self.keys.index(queue, index or state.slug)
        return Call(self.lua["search"], [key], args, page_decoder(queue, state))

    def error_groups(
        self, *, queue: str, state: TaskState, offset: int, count: int
    ) -> Call[ErrorGroups]:
        """`count` tasks of the state's index from `offset` (newest first), by exception
        class (in the order met: a caller adding up several calls keeps that order)."""
        key = self.keys.index(queue, state.slug)
        args = [self._base, offset, count]
        return Call(self.lua["error_groups"], [key], args, decode_error_groups)

    def create_job(
        self,
        *,
        job_id: str,
        queue: str,
        state: TaskState,
        keep_ms: int,
        until_ms: int | None,
        fields: dict[str, str],
        index: str = "",
    ) -> Call[datetime | None]:
        """A job walking the state's index of queue (or `index`: RETRYING_INDEX)."""
        k = self.keys
        keys = [k.job(job_id), k.jobs, k.active_jobs, k.index(queue, index or state.slug)]
        pairs = [v for item in fields.items() for v in item]
        args = [job_id, keep_ms, blank(until_ms), *pairs]
        return Call(self.lua["create_job"], keys, args, from_ms)

    def cancel_job(self, *, job_id: str, who: str, keep_ms: int) -> Call[str]:
        keys = [self.keys.job(job_id), self.keys.active_jobs]
        return Call(self.lua["cancel_job"], keys, [job_id, who, keep_ms], str)

    def bulk_chunk(self, *, job_id: str, scan: int, keep_ms: int) -> Call[ChunkReply]:
        keys = [self.keys.job(job_id), self.keys.active_jobs]
        args = [self._base, job_id, scan, self.config.ms("result_ttl"), keep_ms]
        return Call(self.lua["bulk_chunk"], keys, args, decode_chunk)

    def requeue(self, *, ids: Sequence[str]) -> Call[dict[str, str]]:
        keys = [self.keys.task(i) for i in ids]
        return Call(self.lua["requeue"], keys, [self._base, *ids], decode_pairs)

    def run_now(self, *, ids: Sequence[str]) -> Call[dict[str, str]]:
        keys = [self.keys.task(i) for i in ids]
        return Call(self.lua["run_now"], keys, [self._base, *ids], decode_pairs)

    def resume_queue(self, *, queue: str) -> Call[tuple[bool, int]]:
        return Call(
            self.lua["resume_queue"],
            [self.keys.paused],
            [self._base, queue],
            lambda r: (bool(r[0]), int(r[1])),
        )

    def cancel(self, *, ids: Sequence[str], who: str, terminate: bool) -> Call[dict[str, str]]:
        keys = [self.keys.task(i) for i in ids]
        args = [self._base, who, "1" if terminate else "0", self.config.ms("result_ttl"), *ids]
        return Call(self.lua["cancel"], keys, args, decode_pairs)

    def purge(self, *, queue: str, ids: Sequence[str]) -> Call[dict[str, str]]:
        keys = [self.keys.task(i) for i in ids]
        return Call(self.lua["purge"], keys, [self._base, queue, *ids], decode_pairs)

    def purge_index(self, *, queue: str, state: TaskState) -> Call[tuple[int, int]]:
        keys = [self.keys.index(queue, state.slug)]
        args = [self._base, self.config.batch_size]
        return Call(self.lua["purge_index"], keys, args, lambda r: (int(r[0]), int(r[1])))
