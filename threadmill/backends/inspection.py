"""The inspection API of RedisTaskBackend: what the admin pages and the dashboard read.

Every call costs Redis work proportional to what it returns (a page, the counts, one task),
never to the length of a queue: no KEYS, no SCAN, no full ranges on a request path.
Requeue and purge are state transitions like any other: Lua scripts that check the state
of each task, in chunks of `batch_size`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from redis.exceptions import RedisError

from .base import (
    PoolStatus,
    QueueStats,
    ServerInfo,
    TaskPage,
    TaskRecord,
    TaskState,
    ThreadStatus,
    WorkerStatus,
)
from .connection import mask_url, translate_errors
from .keys import STATUS_INDEXES
from .serialization import from_ms, record_from_hash

#: Window of "successful / failed in the last minute" in queue_stats.
RECENT_WINDOW_MS = 60_000


def _ids_chunks(ids: Iterable[str], size: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    for task_id in ids:
        chunk.append(task_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class RedisInspectionMixin:
    """Mixed into RedisTaskBackend; uses its keys, config, scripts and client."""

    def queue_names(self) -> list[str]:
        with translate_errors(self.url):
            used = self.client.smembers(self.keys.queues)
        declared = sorted(self.queues)
        return declared + sorted(set(used) - set(declared))

    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        names = list(queues) if queues is not None else self.queue_names()
        keys = [self.keys.stats]
        for queue in names:
            keys += [self.keys.index(queue, status) for status in STATUS_INDEXES]
        reply = self._run("queue_stats", keys, [self.keys.base, RECENT_WINDOW_MS, *names])
        measured_at = from_ms(reply[0])
        stats = []
        for n, queue in enumerate(names):
            v = reply[1 + n * 12 : 13 + n * 12]
            stats.append(
                QueueStats(
                    queue=queue,
                    ready=v[0],
                    deferred=v[1],
                    running=v[2],
                    successful=v[3],
                    failed=v[4],
                    oldest_ready_at=from_ms(v[5]),
                    next_deferred_at=from_ms(v[6]),
                    successful_last_minute=v[7],
                    failed_last_minute=v[8],
                    enqueued_total=int(v[9] or 0),
                    successful_total=int(v[10] or 0),
                    failed_total=int(v[11] or 0),
                    measured_at=measured_at,
                )
            )
        return stats

    def list_tasks(self, queue: str, state: TaskState, offset: int, limit: int) -> TaskPage:
        state = TaskState(state)
        offset, limit = max(0, int(offset)), max(1, int(limit))
        reply = self._run(
            "page",
            [self.keys.index(queue, state.index)],
            [self.keys.base, offset, limit, "1" if state.newest_first else "0"],
        )
        items = []
        for i in range(1, len(reply), 3):
            task_id, flat = reply[i], reply[i + 2]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            items.append(self._record_or_ghost(task_id, fields, queue, state))
        return TaskPage(
            queue=queue, state=state, items=items, total=reply[0], offset=offset, limit=limit
        )

    def _record_or_ghost(
        self, task_id: str, fields: dict[str, str], queue: str, state: TaskState
    ) -> TaskRecord:
        if fields:
            return record_from_hash(task_id, fields)
        # An index entry whose record has gone (expired result not yet trimmed, or lost).
        ghost = record_from_hash(task_id, {"queue": queue, "status": state.value})
        return replace(ghost, problems=["the task record is missing (expired or lost)"])

    def get_task(self, task_id: str) -> TaskRecord | None:
        with translate_errors(self.url):
            kind = self.client.type(self.keys.task(task_id))
            if kind == "none":
                return None
            if kind != "hash":
                return record_from_hash(task_id, {"raw": f"<redis {kind}>", "status": "corrupt"})
            fields = self.client.hgetall(self.keys.task(task_id))
        return record_from_hash(task_id, fields)

    def requeue(self, task_ids: Iterable[str]) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for chunk in _ids_chunks(task_ids, self.config.batch_size):
            reply = self._run("requeue", [self.keys.seq, self.keys.stats], [self.keys.base, *chunk])
            outcomes.update(zip(reply[::2], reply[1::2], strict=True))
        return outcomes

    def requeue_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        state = TaskState(state)
        if state not in (TaskState.FAILED, TaskState.SUCCESSFUL):
            raise ValueError(f"Only FAILED or SUCCESSFUL tasks can be requeued, not {state}.")
        index = self.keys.index(queue, state.index)
        with translate_errors(self.url):
            ids = self.client.zrange(index, 0, self.config.batch_size - 1)
        outcomes = self.requeue(ids) if ids else {}
        moved = sum(1 for o in outcomes.values() if o == "requeued")
        if ids and not moved:  # ids whose records are gone: drop them from the index
            self.purge([i for i, o in outcomes.items() if o == "missing"], queue=queue)
        with translate_errors(self.url):
            remaining = self.client.zcard(index)
        return moved, remaining

    def purge(self, task_ids: Iterable[str], queue: str = "") -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for chunk in _ids_chunks(task_ids, self.config.batch_size):
            reply = self._run("purge", [self.keys.stats], [self.keys.base, queue, *chunk])
            outcomes.update(zip(reply[::2], reply[1::2], strict=True))
        return outcomes

    def purge_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        state = TaskState(state)
        if state == TaskState.RUNNING:
            raise ValueError(
                "RUNNING tasks cannot be purged: a worker holds them. Wait for them to "
                "finish, or stop the pool (their tasks are then requeued)."
            )
        reply = self._run(
            "purge_index",
            [self.keys.index(queue, state.index)],
            [self.keys.base, self.config.batch_size],
        )
        return reply[0], reply[1]

    def pools(self) -> list[PoolStatus]:
        with translate_errors(self.url):
            now_s, now_us = self.client.time()
            entries = self.client.zrange(self.keys.pools, 0, 199, withscores=True)
            pipe = self.client.pipeline(transaction=False)
            for pool_id, _deadline in entries:
                pipe.hgetall(self.keys.pool(pool_id))
            hashes = pipe.execute()
        now_ms = now_s * 1000 + now_us // 1000
        stale_after = self.config.ms("heartbeat_interval") * 2 + 1000
        pools = []
        for (pool_id, deadline), fields in zip(entries, hashes, strict=True):
            try:
                status = json.loads(fields.get("status", "{}"))
            except ValueError:
                status = {}
            seen = int(fields.get("seen_at") or 0)
            stale = deadline < now_ms or not fields or now_ms - seen > stale_after
            pools.append(_pool_from_status(pool_id, status, seen, stale))
        return pools

    def server_info(self) -> ServerInfo:
        """Health of the server that holds this alias's keys: on a cluster, the master of
        the alias's slot (INFO, TIME and CONFIG GET go there, not to a random node)."""
        url = mask_url(self.url)
        topology = self.target.kind
        try:
            with translate_errors(self.url):
                info = self.client.info()
                lost = self.client.hmget(self.keys.meta, "lost_at", "lost_detail")
                now_s, now_us = self.client.time()
                config = _config_get(self.client, "appendfsync", "save")
                node = self.clients().master_address()
        except Exception as exc:
            return ServerInfo(
                url=url,
                reachable=False,
                error=str(exc),
                warnings=[f"Redis at {url} is unreachable: {exc}"],
                topology=topology,
            )
        policy = info.get("maxmemory_policy", "")
        aof = bool(info.get("aof_enabled"))
        replicas = int(info.get("connected_slaves", 0))
        warnings = []
        if not aof:
            warnings.append(
                "Persistence is off (appendonly no): a Redis restart loses every queued task."
            )
        if policy and policy != "noeviction":
            warnings.append(
                f"maxmemory-policy is {policy}: Redis may evict task data. Use noeviction."
            )
        if replicas < self.config.replica_acks:
            warnings.append(
                f"replica_acks is {self.config.replica_acks} but {node} has {replicas} "
                "connected replica(s): enqueues and acknowledgements raise ReplicationTimeout."
            )
        if lost[0]:
            warnings.append(f"Redis lost data at {from_ms(lost[0])}: {lost[1] or ''}")
        return ServerInfo(
            url=url,
            reachable=True,
            version=str(info.get("redis_version", "")),
            used_memory=int(info.get("used_memory", 0)),
            maxmemory=int(info.get("maxmemory", 0)),
            maxmemory_policy=policy,
            aof_enabled=aof,
            appendfsync=config.get("appendfsync", ""),
            rdb_save=config.get("save", ""),
            now=from_ms(now_s * 1000 + now_us // 1000),
            data_lost_at=from_ms(lost[0]),
            warnings=warnings,
            node=node,
            topology=topology,
            connected_replicas=replicas,
        )


def _config_get(client: Any, *names: str) -> dict[str, str]:
    """CONFIG GET, tolerating managed servers that disable it."""
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(RedisError):
            found.update(client.config_get(name))
    return found


def _pool_from_status(pool_id: str, status: dict, seen_ms: int, stale: bool) -> PoolStatus:
    workers = []
    for w in status.get("workers", []):
        threads = [
            ThreadStatus(
                index=t.get("index", i),
                task_id=t.get("task_id", ""),
                task_path=t.get("task_path", ""),
                since=from_ms(t.get("since_ms") or None),
            )
            for i, t in enumerate(w.get("threads", []))
        ]
        workers.append(
            WorkerStatus(
                worker_id=w.get("worker_id", "?"),
                pid=int(w.get("pid", 0)),
                started_at=from_ms(w.get("started_ms") or None),
                threads=threads,
                processed=int(w.get("processed", 0)),
                failed=int(w.get("failed", 0)),
                rss_bytes=int(w.get("rss_bytes", 0)),
            )
        )
    return PoolStatus(
        pool_id=pool_id,
        host=status.get("host", "?"),
        pid=int(status.get("pid", 0)),
        started_at=from_ms(status.get("started_ms") or None),
        seen_at=from_ms(seen_ms or None),
        queues=list(status.get("queues", [])),
        processes=int(status.get("processes", 0)),
        threads=int(status.get("threads", 0)),
        restarts=int(status.get("restarts", 0)),
        crashes=int(status.get("crashes", 0)),
        skew_seconds=float(status.get("skew_seconds", 0.0)),
        workers=workers,
        stale=stale,
    )
