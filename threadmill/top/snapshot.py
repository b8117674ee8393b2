"""The dashboard's data: one bounded backend read per frame, as a plain snapshot.

`Sampler.sample()` makes one `backend.overview()` call (two pipelined Redis round trips,
whatever the queue lengths) and, when the alias has periodic schedules, one
`backend.schedule_report()` (two more, whatever their number; none without schedules),
and returns a `Snapshot`: frozen dataclasses of numbers and strings, JSON-ready through
`to_dict()`. Ages and runtimes are measured against Redis time,
so a host with a wrong clock does not distort them (pool timestamps are corrected by the
skew each pool publishes).

Rates are deltas of the counters the backend keeps (`enqueued_total`, `successful_total`,
`failed_total`) between this frame and the previous one: the first frame has none. The
throughput history is those deltas, kept in memory in a bounded deque, each spread over the
time buckets its window covers (so a long `--interval` or a gap still draws an even line,
not a spike). Retries per minute are the `retried_total` counter's increase over the last
minute of frames (or all of them, at first), per minute. A failed read never raises: the
snapshot says Redis is down, keeps the last figures, and the next sample retries.
The snapshot's dataclasses are in `views.py`, and the functions that make each view from
its backend record in `view_builders.py`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.display import display_reads
from threadmill.backends.health_records import Overview
from threadmill.backends.records import QueueStats
from threadmill.backends.schedule_records import ScheduleReport
from threadmill.exceptions import BackendUnavailable

from .view_builders import (
    failure_view,
    job_view,
    pool_view,
    queue_view,
    schedule_view,
    server_view,
)
from .views import BUCKET_SECONDS, Snapshot, TaskView, ThroughputBucket

#: Failures shown in the "recent failures" panel (and read per queue, newest first).
RECENT_FAILURES = 5
#: The throughput history: this many seconds, in buckets of BUCKET_SECONDS.
HISTORY_SECONDS = 600
#: Retries per minute are counted over this many seconds of frames (fewer at first).
RETRY_WINDOW_SECONDS = 60.0
#: The per-task view adds up this many seconds of run metrics.
TASK_SPAN_SECONDS = 3600.0


@dataclass
class _Frame:
    """What the next frame needs from this one to compute rates."""

    at: float  # Redis time, epoch seconds
    totals: dict[str, tuple[int, int, int]]  # queue -> enqueued, successful, failed


class Sampler:
    """Reads snapshots of one backend, remembering what rates and history need."""

    def __init__(
        self,
        backend: ThreadmillBackend,
        *,
        recent_failures: int = RECENT_FAILURES,
        history_seconds: int = HISTORY_SECONDS,
        bucket_seconds: int = BUCKET_SECONDS,
    ) -> None:
        self.backend = backend
        self.alias = backend.alias
        self.url = backend.display_url
        self.recent_failures = recent_failures
        self.history_seconds = history_seconds
        self.bucket_seconds = bucket_seconds
        # (window start, window end (Redis time), enqueued, finished, failed) per frame;
        # bounded by time and by length.
        self.history: deque[tuple[float, float, int, int, int]] = deque(maxlen=4096)
        # (Redis time, queue -> retried_total) of the frames of the last RETRY_WINDOW_SECONDS.
        self.retries: deque[tuple[float, dict[str, int]]] = deque(maxlen=4096)
        self._previous: _Frame | None = None
        self._last: Snapshot | None = None
        #: Read the per-task run metrics too (one more round trip per frame): set while the
        #: dashboard shows its per-task view, and for --json.
        self.with_tasks = False

    def placeholder(self) -> Snapshot:
        """The snapshot to show before the first read has returned."""
        return Snapshot(alias=self.alias, url=self.url, taken_at=_local_now(), reachable=True)

    def sample(self) -> Snapshot:
        """One frame; never raises for an unreachable or misbehaving server."""
        taken_at = _local_now()
        try:
            with display_reads():  # admin_timeout, no retries: a dead Redis shows at once
                overview = self.backend.overview(self.recent_failures)
                # After the first read: its Redis time says which slots are next.
                reports = self.backend.schedule_report(now=overview.server.now)
                tasks = self._tasks() if self.with_tasks else None
        except BackendUnavailable as exc:
            return self._down(taken_at, str(exc))
        except Exception as exc:  # a bad reply must not kill the screen; show it instead
            return self._down(taken_at, f"{type(exc).__name__}: {exc}")
        snapshot = replace(self._build(overview, taken_at, reports), tasks=tasks)
        self._last = snapshot
        return snapshot

    def _tasks(self) -> list[TaskView]:
        """Per queue and task path, the runs of the last TASK_SPAN_SECONDS, most runs first
        (none when the alias keeps no run metrics)."""
        if not self.backend.config.metrics_window:
            return []
        found = self.backend.task_metrics(span=TASK_SPAN_SECONDS, failures=1)
        views = [
            TaskView(
                queue=m.queue,
                path=m.path,
                runs=m.runs,
                successful=m.successful,
                failed=m.failed,
                retried=m.retried,
                failure_rate=round(m.failure_rate, 4),
                p50_ms=None if m.p50 is None else round(m.p50, 1),
                p95_ms=None if m.p95 is None else round(m.p95, 1),
                max_ms=m.max_ms,
                last_error_class=m.last_failure.exception_class if m.last_failure else "",
            )
            for m in found
        ]
        return sorted(views, key=lambda v: (-v.runs, v.queue, v.path))

    def _down(self, taken_at: datetime, error: str) -> Snapshot:
        last = self._last or self.placeholder()
        down_since = (last.down_since if not last.reachable else None) or taken_at
        self._last = replace(
            last, taken_at=taken_at, reachable=False, error=error, down_since=down_since
        )
        return self._last

    def _build(
        self, overview: Overview, taken_at: datetime, reports: list[ScheduleReport]
    ) -> Snapshot:
        config = self.backend.config
        now = overview.server.now or _local_now()
        at = now.timestamp()
        previous, self._previous = (
            self._previous,
            _Frame(at, {q.queue: _totals(q) for q in overview.queues}),
        )
        window = at - previous.at if previous and at > previous.at else None
        queues = []
        frame = [0, 0, 0]  # enqueued, finished, failed across queues in this frame
        counted = window is not None  # a counter reset leaves the frame out of the history
        for q in overview.queues:
            deltas = None
            if window and previous:
                # A queue first used since the previous frame counted from zero.
                deltas = _deltas(previous.totals.get(q.queue, (0, 0, 0)), _totals(q))
                counted = counted and deltas is not None
            in_rate = out_rate = None
            if window and deltas:
                enqueued, successful, failed = deltas
                frame[0] += enqueued
                frame[1] += successful + failed
                frame[2] += failed
                in_rate = round(enqueued / window, 3)
                out_rate = round((successful + failed) / window, 3)
            queues.append(queue_view(q, now, in_rate, out_rate))
        if counted and window:
            self.history.append((at - window, at, frame[0], frame[1], frame[2]))
        per_minute = self._retries_per_minute(
            at, {q.queue: q.retried_total for q in overview.queues}
        )
        queues = [replace(q, retries_per_minute=per_minute.get(q.name)) for q in queues]
        server = overview.server
        return Snapshot(
            alias=self.alias,
            url=server.url or self.url,
            taken_at=taken_at,
            reachable=True,
            redis_time=now,
            server=server_view(server),
            queues=queues,
            pools=sorted(
                (pool_view(p, now) for p in overview.pools), key=lambda p: (p.host, p.pid)
            ),
            failures=[failure_view(r, now) for r in overview.failures],
            jobs=[job_view(job) for job in overview.jobs],
            throughput=self._buckets(at),
            schedules=[schedule_view(r, now) for r in reports],
            bucket_seconds=self.bucket_seconds,
            rate_window_seconds=round(window, 3) if window else None,
            lease_ttl_seconds=config.lease_ttl,
            heartbeat_interval_seconds=config.heartbeat_interval,
            task_span_seconds=TASK_SPAN_SECONDS,
        )

    def _retries_per_minute(self, at: float, totals: dict[str, int]) -> dict[str, float]:
        """Per queue, retries per minute since the oldest frame of the last
        RETRY_WINDOW_SECONDS (none on the first frame, or after a counter reset)."""
        if self.retries and at < self.retries[-1][0]:
            self.retries.clear()  # Redis's clock went back (another server?): start again
        self.retries.append((at, totals))
        while len(self.retries) > 1 and self.retries[1][0] <= at - RETRY_WINDOW_SECONDS:
            self.retries.popleft()
        since, before = self.retries[0]
        if at <= since:
            return {}
        rates = {}
        for queue, total in totals.items():
            delta = total - before.get(queue, 0)  # a queue first used since counts from 0
            if delta < 0:  # Redis lost or flushed its data: count from this frame on
                self.retries.clear()
                self.retries.append((at, totals))
                return {}
            rates[queue] = round(delta * 60 / (at - since), 3)
        return rates

    def _buckets(self, now: float) -> list[ThroughputBucket]:
        """The history as BUCKET_SECONDS slots, oldest first, ending with the current one."""
        size = self.bucket_seconds
        count = max(1, self.history_seconds // size)
        last = int(now // size)
        first = last - count + 1
        while self.history and self.history[0][1] < first * size:
            self.history.popleft()
        sums: dict[int, list[float]] = {}
        for start, end, *deltas in self.history:
            span = max(end - start, 1e-9)
            for n in range(max(first, int(start // size)), min(last, int(end // size)) + 1):
                overlap = min(end, (n + 1) * size) - max(start, n * size)
                if overlap <= 0 and end > start:
                    continue  # touches the bucket's edge only
                share = overlap / span if end > start else 1.0
                slot = sums.setdefault(n, [0.0, 0.0, 0.0])
                for i, delta in enumerate(deltas):
                    slot[i] += delta * share
        buckets = []
        for n in range(first, last + 1):
            found = sums.get(n)
            bucket_start = datetime.fromtimestamp(n * size).astimezone()
            if found is None:
                buckets.append(ThroughputBucket(bucket_start, None, None, None))
            else:
                enqueued, finished, failed = (round(v, 2) for v in found)
                buckets.append(ThroughputBucket(bucket_start, enqueued, finished, failed))
        return buckets


def _totals(q: QueueStats) -> tuple[int, int, int]:
    return (q.enqueued_total, q.successful_total, q.failed_total)


def _deltas(before: tuple[int, int, int], after: tuple[int, int, int]) -> tuple[int, ...] | None:
    """Counter increases, or None after a reset (Redis lost or flushed its data)."""
    deltas = tuple(a - b for a, b in zip(after, before, strict=True))
    if any(d < 0 for d in deltas):
        return None
    return deltas


def _local_now() -> datetime:
    return datetime.fromtimestamp(time.time()).astimezone()
