"""What the admin pages, the dashboard and `manage.py check` read of one alias's Redis, and
the repairs they make (requeue, purge).

`RedisInspection` works on a `RedisStore` (the alias's keys, scripts and clients); the
backend hands its inspection API to it. Every call costs Redis work proportional to what it
returns (a page, the counts, one task), never to the length of a queue: no KEYS, no SCAN, no
full ranges on a request path. Requeue and purge are state transitions like any other: Lua
scripts that check the state of each task, in chunks of `batch_size`.

The server's health is read in one place (`_read_server`: INFO, the data-loss mark, Redis
time, persistence settings, the pools' reports) and judged in one place (`health.assess`),
for the admin's overview, the dashboard's frame and the system checks alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from . import health
from .health_records import Overview, ServerInfo
from .jobs import job_from_hash
from .keys import RETRYING_INDEX
from .pool_records import PoolStatus
from .records import QueueStats, TaskRecord, TaskState
from .redis_records import from_ms, record_from_hash, report_from_json, to_ms
from .script_values import Page
from .search_records import SEARCH_SCAN, ErrorGroups, TaskFilter, TaskPage
from .store import RedisStore

#: Pools read at most by one health or pools read.
MAX_POOLS = 200
#: Positions one search call examines at most (a page's scan is made of such calls, so
#: that Redis serves other clients between them: a few ms each).
SEARCH_STEP = 1000
#: Unfinished bulk jobs an overview reads at most.
MAX_OVERVIEW_JOBS = 20
#: How long a system check waits for Redis, so `manage.py migrate` is never held up long.
CHECK_TIMEOUT = 1.0


def _chunks(ids: Iterable[str], size: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    for task_id in ids:
        chunk.append(task_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class _ServerFacts:
    """What one read of the server found (see `_read_server`)."""

    info: dict
    lost: list
    now_ms: int
    config: dict[str, str]
    pool_entries: list
    extra: list  # replies of the caller's extra commands


class RedisInspection:
    """The inspection API of one alias, over its store."""

    def __init__(self, store: RedisStore, declared_queues: Iterable[str]) -> None:
        self.store = store
        self.keys = store.keys
        self.scripts = store.scripts
        self.config = store.config
        self.declared = sorted(declared_queues)

    def queue_names(self) -> list[str]:
        with self.store.translate():
            used = self.store.reader.smembers(self.keys.queues)
        return self._names(used)

    def _names(self, used: Iterable[str]) -> list[str]:
        return self.declared + sorted(set(used) - set(self.declared))

    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        names = list(queues) if queues is not None else self.queue_names()
        return self.store.run(self.scripts.queue_stats(queues=names), read=True)

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
        state = TaskState(state)
        if retrying and state != TaskState.DEFERRED:
            raise ValueError(f"Only DEFERRED tasks can be retrying, not {state}.")
        offset, limit = max(0, int(offset)), max(1, int(limit))
        flt = filter or TaskFilter()
        index = RETRYING_INDEX if retrying else ""
        if flt:
            page = self._search(queue, state, offset, limit, max(1, int(scan)), flt, index)
        else:
            call = self.scripts.page(
                queue=queue, state=state, offset=offset, limit=limit, index=index
            )
            page = self.store.run(call, read=True)
        return TaskPage(
            queue=queue,
            state=state,
            items=page.items,
            total=page.total,
            offset=offset,
            limit=limit,
            name=flt.path,
            next_offset=page.next_offset if flt else None,
            filter=flt,
        )

    def _search(
        self,
        queue: str,
        state: TaskState,
        offset: int,
        limit: int,
        scan: int,
        flt: TaskFilter,
        index: str,
    ) -> Page:
        """`scan` positions from offset, in calls of SEARCH_STEP positions at most, so that
        no call holds Redis for long; stops early once the page is full. A finished list
        is scored by finish time, newest first: with `until`, the search starts past the
        tasks that finished later (one ZCOUNT) instead of scanning through them."""
        items: list[TaskRecord] = []
        if flt.until is not None and not index and state.newest_first:
            with self.store.translate():
                newer = self.store.reader.zcount(
                    self.keys.index(queue, state.slug), f"({to_ms(flt.until)}", "+inf"
                )
            offset = max(offset, int(newer))
        position, end = offset, offset + scan
        total = 0
        while True:
            call = self.scripts.search(
                queue=queue,
                state=state,
                offset=position,
                limit=limit - len(items),
                scan=min(SEARCH_STEP, end - position),
                filter=flt,
                index=index,
            )
            part = self.store.run(call, read=True)
            items += part.items
            total, position = part.total, part.next_offset
            if len(items) >= limit or position >= min(end, total):
                return Page(total, position, items)

    def error_groups(self, queue: str, state: TaskState, scan: int) -> ErrorGroups:
        """The newest `scan` tasks by exception class, in calls of SEARCH_STEP tasks at most
        (no call holds Redis for long); most frequent first, a tie in the order met."""
        counts: dict[str, int] = {}
        position, total = 0, 1  # total: known after the first call (which always runs)
        while position < min(max(1, scan), total):
            step = min(SEARCH_STEP, max(1, scan) - position)
            part = self.store.run(
                self.scripts.error_groups(
                    queue=queue, state=TaskState(state), offset=position, count=step
                ),
                read=True,
            )
            for name, n in part.groups:
                counts[name] = counts.get(name, 0) + n
            total, position = part.total, position + part.examined
            if part.examined < step:
                break
        groups = sorted(counts.items(), key=lambda pair: -pair[1])  # stable for ties
        return ErrorGroups(total, position, groups)

    def get_task(self, task_id: str) -> TaskRecord | None:
        key = self.keys.task(task_id)
        with self.store.translate():
            client = self.store.reader
            kind = client.type(key)
            if kind == "none":
                return None
            if kind != "hash":
                return record_from_hash(task_id, {"raw": f"<redis {kind}>", "status": "corrupt"})
            fields = client.hgetall(key)
        return record_from_hash(task_id, fields)

    # ---- repairs ------------------------------------------------------------------------

    def requeue(self, task_ids: Iterable[str]) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for chunk in _chunks(task_ids, self.config.batch_size):
            outcomes.update(self.store.run(self.scripts.requeue(ids=chunk)))
        return outcomes

    def requeue_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        state = TaskState(state)
        if state not in (TaskState.FAILED, TaskState.SUCCESSFUL):
            raise ValueError(f"Only FAILED or SUCCESSFUL tasks can be requeued, not {state}.")
        index = self.keys.index(queue, state.slug)
        with self.store.translate():
            ids = self.store.client.zrange(index, 0, self.config.batch_size - 1)
        outcomes = self.requeue(ids) if ids else {}
        moved = sum(1 for o in outcomes.values() if o == "requeued")
        if ids and not moved:  # ids whose records are gone: drop them from the index
            self.purge([i for i, o in outcomes.items() if o == "missing"], queue=queue)
        with self.store.translate():
            remaining = self.store.client.zcard(index)
        return moved, remaining

    def purge(self, task_ids: Iterable[str], queue: str = "") -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for chunk in _chunks(task_ids, self.config.batch_size):
            outcomes.update(self.store.run(self.scripts.purge(queue=queue, ids=chunk)))
        return outcomes

    def purge_batch(self, queue: str, state: TaskState) -> tuple[int, int]:
        state = TaskState(state)
        if state == TaskState.RUNNING:
            raise ValueError(
                "RUNNING tasks cannot be purged: a worker holds them. Wait for them to "
                "finish, or stop the pool (their tasks are then requeued)."
            )
        return self.store.run(self.scripts.purge_index(queue=queue, state=state))

    # ---- pools and server health --------------------------------------------------------

    def pools(self) -> list[PoolStatus]:
        with self.store.translate():
            client = self.store.reader
            now_s, now_us = client.time()
            entries = client.zrange(self.keys.pools, 0, MAX_POOLS - 1, withscores=True)
            pipe = client.pipeline(transaction=False)
            for pool_id, _deadline in entries:
                pipe.hgetall(self.keys.pool(pool_id))
            hashes = pipe.execute()
        return self._pools(entries, hashes, now_s * 1000 + now_us // 1000)

    def _pools(self, entries: list, hashes: list[dict], now_ms: int) -> list[PoolStatus]:
        stale_after = self.config.ms("heartbeat_interval") * 2 + 1000
        pools = []
        for (pool_id, deadline), fields in zip(entries, hashes, strict=True):
            seen = int(fields.get("seen_at") or 0)
            stale = deadline < now_ms or not fields or now_ms - seen > stale_after
            report = report_from_json(fields.get("status"))
            pools.append(PoolStatus(pool_id, report, from_ms(seen or None), stale))
        return pools

    def _read_server(self, client: Any, extra: Sequence[tuple[str, tuple]] = ()) -> _ServerFacts:
        """One round trip: INFO, the data-loss mark, TIME, the persistence settings, the
        live pools' ids, and the caller's extra commands. CONFIG GET may be disabled (managed
        servers): its failure is tolerated."""
        pipe = client.pipeline(transaction=False)
        pipe.info()
        pipe.hmget(self.keys.meta, "lost_at", "lost_detail")
        pipe.time()
        pipe.zrange(self.keys.pools, 0, MAX_POOLS - 1, withscores=True)
        pipe.config_get("appendfsync")
        pipe.config_get("save")
        for command, args in extra:
            getattr(pipe, command)(*args)
        replies = pipe.execute(raise_on_error=False)
        for n, reply in enumerate(replies):
            if isinstance(reply, Exception) and n not in (4, 5):
                raise reply
        info, lost, (now_s, now_us), entries = replies[:4]
        config: dict[str, str] = {}
        for reply in replies[4:6]:
            if isinstance(reply, dict):
                config.update(reply)
        return _ServerFacts(info, lost, now_s * 1000 + now_us // 1000, config, entries, replies[6:])

    def _server(
        self, facts: _ServerFacts, pools: list[PoolStatus], node: str, where: str = ""
    ) -> ServerInfo:
        info = facts.info
        lost_at = from_ms(facts.lost[0])
        issues = health.assess(
            url=self.store.display_url,
            info=info,
            lost_at=lost_at,
            lost_detail=facts.lost[1] or "",
            replica_acks=self.config.replica_acks,
            node=node,
            skews=[(p.pool_id, p.report.skew_seconds) for p in pools if not p.stale],
            where=where,
            meta_key=self.keys.meta,
        )
        return ServerInfo(
            url=self.store.display_url,
            reachable=True,
            version=str(info.get("redis_version", "")),
            used_memory=int(info.get("used_memory", 0)),
            maxmemory=int(info.get("maxmemory", 0)),
            maxmemory_policy=str(info.get("maxmemory_policy", "")),
            aof_enabled=bool(info.get("aof_enabled")),
            appendfsync=facts.config.get("appendfsync", ""),
            rdb_save=facts.config.get("save", ""),
            now=from_ms(facts.now_ms),
            data_lost_at=lost_at,
            issues=issues,
            node=node,
            topology=self.store.target.kind,
            connected_replicas=int(info.get("connected_slaves", 0)),
        )

    def _unreachable(self, error: str, where: str = "") -> ServerInfo:
        url = self.store.display_url
        return ServerInfo(
            url=url,
            reachable=False,
            error=error,
            issues=[health.unreachable(where, url, error)],
            topology=self.store.target.kind,
        )

    def server_info(self) -> ServerInfo:
        """Health of the server that holds this alias's keys (on a cluster, the master of the
        alias's slot) and of its pools; never raises: an unreachable server is reported."""
        try:
            with self.store.translate():
                client = self.store.reader
                facts = self._read_server(client)
                pools = self._read_pools(client, facts)
                node = self.store.master_address()
        except Exception as exc:
            return self._unreachable(str(exc))
        return self._server(facts, pools, node)

    def health(self, where: str = "") -> ServerInfo:
        """server_info for `manage.py check`: its own client, which waits CHECK_TIMEOUT at
        most and never retries; `where` prefixes every message."""
        try:
            with self.store.probe(CHECK_TIMEOUT) as client:
                facts = self._read_server(client)
                pools = self._read_pools(client, facts)
        except (RedisError, OSError) as exc:
            return self._unreachable(str(exc), where)
        return self._server(facts, pools, self.store.display_url, where)

    def _read_pools(self, client: Any, facts: _ServerFacts) -> list[PoolStatus]:
        pipe = client.pipeline(transaction=False)
        for pool_id, _deadline in facts.pool_entries:
            pipe.hgetall(self.keys.pool(pool_id))
        hashes = pipe.execute() if facts.pool_entries else []
        return self._pools(facts.pool_entries, hashes, facts.now_ms)

    def overview(self, recent_failures: int = 5) -> Overview:
        """Two pipelined round trips (plus one to reload scripts after a Redis restart):
        what to read, then the reads. Cost: O(queues x log n + pools + queues x
        recent_failures + unfinished bulk jobs), never O(queue length)."""
        with self.store.translate():
            client = self.store.reader
            extra = [("smembers", (self.keys.queues,)), ("smembers", (self.keys.active_jobs,))]
            facts = self._read_server(client, extra)
            node = self.store.master_address()
        names = self._names(facts.extra[0])
        job_ids = sorted(facts.extra[1])[:MAX_OVERVIEW_JOBS]
        failures = max(0, int(recent_failures))
        calls: list[Any] = [self.scripts.queue_stats(queues=names)]
        if failures:
            calls += [
                self.scripts.page(queue=q, state=TaskState.FAILED, offset=0, limit=failures)
                for q in names
            ]
        reads = [("hgetall", (self.keys.pool(pool_id),)) for pool_id, _ in facts.pool_entries]
        reads += [("hgetall", (self.keys.job(job_id),)) for job_id in job_ids]
        replies = self.store.run_many(calls, reads, read=True)
        pool_replies = replies[len(calls) : len(calls) + len(facts.pool_entries)]
        pools = self._pools(facts.pool_entries, pool_replies, facts.now_ms)
        jobs = [job_from_hash(h) for h in replies[len(calls) + len(facts.pool_entries) :]]
        recent = [record for page in replies[1 : len(calls)] for record in page.items]
        recent.sort(key=lambda r: r.finished_at.timestamp() if r.finished_at else 0, reverse=True)
        return Overview(
            server=self._server(facts, pools, node),
            queues=replies[0],
            pools=pools,
            failures=recent[:failures],
            jobs=[job for job in jobs if job is not None],
        )
