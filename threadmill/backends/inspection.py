"""The inspection API of RedisTaskBackend: what the admin pages and the dashboard read.

Every call costs Redis work proportional to what it returns (a page, the counts, one task),
never to the length of a queue: no KEYS, no SCAN, no full ranges on a request path.
Requeue and purge are state transitions like any other: Lua scripts that check the state
of each task, in chunks of `batch_size`. `overview()` (the dashboard's frame) reads the same
things as queue_stats, pools, server_info and a page of failures per queue, pipelined into
two round trips.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from .base import (
    NAME_FILTER_SCAN,
    Overview,
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
        return _queue_stats(names, self._run("queue_stats", *self._queue_stats_call(names)))

    def _queue_stats_call(self, names: Sequence[str]) -> tuple[list[str], list[Any]]:
        keys = [self.keys.stats]
        for queue in names:
            keys += [self.keys.index(queue, status) for status in STATUS_INDEXES]
        return keys, [self.keys.base, RECENT_WINDOW_MS, *names]

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
        state = TaskState(state)
        offset, limit = max(0, int(offset)), max(1, int(limit))
        reply = self._run("page", *self._page_call(queue, state, offset, limit, name, scan))
        return TaskPage(
            queue=queue,
            state=state,
            items=_page_items(reply, queue, state),
            total=reply[0],
            offset=offset,
            limit=limit,
            name=name,
            next_offset=reply[1] if name else None,
        )

    def _page_call(
        self,
        queue: str,
        state: TaskState,
        offset: int,
        limit: int,
        name: str = "",
        scan: int = NAME_FILTER_SCAN,
    ) -> tuple[list[str], list[Any]]:
        return (
            [self.keys.index(queue, state.index)],
            [
                self.keys.base,
                offset,
                limit,
                "1" if state.newest_first else "0",
                name,
                max(1, int(scan)),
            ],
        )

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
        return self._pools(entries, hashes, now_s * 1000 + now_us // 1000)

    def _pools(self, entries: list, hashes: list[dict], now_ms: int) -> list[PoolStatus]:
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
                topology=self.target.kind,
            )
        return self._server_info(url, info, lost, now_s * 1000 + now_us // 1000, config, node)

    def _server_info(
        self, url: str, info: dict, lost: list, now_ms: int, config: dict[str, str], node: str
    ) -> ServerInfo:
        server = _server_info(url, info, lost, now_ms, config)
        replicas = int(info.get("connected_slaves", 0))
        warnings = list(server.warnings)
        if replicas < self.config.replica_acks:
            warnings.insert(
                len(warnings) - (1 if lost[0] else 0),
                f"replica_acks is {self.config.replica_acks} but {node} has {replicas} "
                "connected replica(s): enqueues and acknowledgements raise ReplicationTimeout.",
            )
        return replace(
            server,
            warnings=warnings,
            node=node,
            topology=self.target.kind,
            connected_replicas=replicas,
        )

    def overview(self, recent_failures: int = 5) -> Overview:
        """Two pipelined round trips (plus one to reload scripts after a Redis restart):
        what to read, then the reads. Cost: O(queues x log n + pools + queues x
        recent_failures), never O(queue length)."""
        k = self.keys
        with translate_errors(self.url):
            first = self.client.pipeline(transaction=False)
            first.smembers(k.queues)
            first.zrange(k.pools, 0, 199, withscores=True)
            first.time()
            first.info()
            first.hmget(k.meta, "lost_at", "lost_detail")
            first.config_get("appendfsync")
            first.config_get("save")
            used, entries, (now_s, now_us), info, lost, *config_replies = _results(
                first.execute(raise_on_error=False), tolerate={5, 6}
            )
            declared = sorted(self.queues)
            names = declared + sorted(set(used) - set(declared))
            failures = max(0, int(recent_failures))
            calls = [(self.scripts["queue_stats"], *self._queue_stats_call(names))]
            if failures:
                calls += [
                    (self.scripts["page"], *self._page_call(q, TaskState.FAILED, 0, failures))
                    for q in names
                ]
            replies = self._pipeline(calls, [k.pool(pool_id) for pool_id, _ in entries])
        config: dict[str, str] = {}
        for reply in config_replies:
            if isinstance(reply, dict):
                config.update(reply)
        now_ms = now_s * 1000 + now_us // 1000
        pages, hashes = replies[1 : len(calls)], replies[len(calls) :]
        recent = [
            record
            for queue, reply in zip(names if failures else [], pages, strict=True)
            for record in _page_items(reply, queue, TaskState.FAILED)
        ]
        recent.sort(key=lambda r: r.finished_at.timestamp() if r.finished_at else 0, reverse=True)
        return Overview(
            server=self._server_info(
                mask_url(self.url), info, lost, now_ms, config, self.clients().master_address()
            ),
            queues=_queue_stats(names, replies[0]),
            pools=self._pools(entries, hashes, now_ms),
            failures=recent[:failures],
        )

    def _pipeline(self, calls: list[tuple], hgetall_keys: list[str]) -> list[Any]:
        """Script calls, then HGETALL of each key, in one round trip; a server that lost
        its script cache (restarted) gets the scripts loaded and the batch sent again."""
        for attempt in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            for script, keys, args in calls:
                script.queue_in(pipe, keys, args)
            for key in hgetall_keys:
                pipe.hgetall(key)
            replies = pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in replies):
                for script in {script.name: script for script, _, _ in calls}.values():
                    self.client.script_load(script.source)
                continue
            return _results(replies)
        raise AssertionError("unreachable")


def _results(replies: list[Any], tolerate: Collection[int] = ()) -> list[Any]:
    """Pipeline replies; the first error raises unless its position is tolerated."""
    for n, reply in enumerate(replies):
        if isinstance(reply, Exception) and n not in tolerate:
            raise reply
    return replies


def _queue_stats(names: Sequence[str], reply: list[Any]) -> list[QueueStats]:
    """Decode the queue_stats script's reply (see lua/queue_stats.lua)."""
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


def _page_items(reply: list[Any], queue: str, state: TaskState) -> list[TaskRecord]:
    """Decode the page script's reply `{total, next_offset, id, score, fields, ...}`."""
    items = []
    for i in range(2, len(reply), 3):
        task_id, flat = reply[i], reply[i + 2]
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        if fields:
            items.append(record_from_hash(task_id, fields))
            continue
        # An index entry whose record has gone (expired result not yet trimmed, or lost).
        ghost = record_from_hash(task_id, {"queue": queue, "status": state.value})
        items.append(replace(ghost, problems=["the task record is missing (expired or lost)"]))
    return items


def _server_info(
    url: str, info: dict, lost: list, now_ms: int, config: dict[str, str]
) -> ServerInfo:
    """ServerInfo from INFO, the meta hash's data-loss fields, TIME and CONFIG values."""
    policy = info.get("maxmemory_policy", "")
    aof = bool(info.get("aof_enabled"))
    warnings = []
    if not aof:
        warnings.append(
            "Persistence is off (appendonly no): a Redis restart loses every queued task."
        )
    if policy and policy != "noeviction":
        warnings.append(f"maxmemory-policy is {policy}: Redis may evict task data. Use noeviction.")
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
        now=from_ms(now_ms),
        data_lost_at=from_ms(lost[0]),
        warnings=warnings,
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
        rss_bytes=int(status.get("rss_bytes", 0)),
        stopping=bool(status.get("stopping", False)),
    )
