"""Run metrics as the backend interface returns them: runs and sampled queue depths per
minute (the overview's charts) and per task path (counts, run-time histogram, newest
failures), plus the run-time buckets and the percentile estimate made from them. Plain
values, no Redis; the replies of the metrics scripts are decoded here
(`minutes_from_reply`, `series_from_reply`).

What is counted (docs/metrics.md): every attempt a worker acknowledges, in the acknowledge
call itself: `successful`, `failed` (the task ended FAILED) or `retried` (it failed and was
put back for another attempt). Its run time is Redis time from its lease to its
acknowledgement. Tasks the broker fails (a lost worker's, an expired one) are not runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .redis_records import from_ms

#: Upper bounds (ms, inclusive) of the run-time buckets; one more bucket holds longer runs.
#: `lua/lib/4_metrics.lua`'s RUN_BUCKETS_MS is the same list (tests/test_metrics.py).
RUN_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                  900000)  # fmt: skip
#: Outcome of a run as the scripts name it -> as the records name it.
KINDS = {"ok": "successful", "fail": "failed", "retry": "retried"}


@dataclass(frozen=True, slots=True)
class MinuteRuns:
    """Runs acknowledged in one minute: queue -> {'successful': n, 'failed': n, 'retried': n};
    and, when a pool sampled that minute, queue -> READY tasks (`depth`) and queue -> age of
    the oldest ready task in ms (`oldest_ms`, only for a queue that had one)."""

    start: datetime
    queues: dict[str, dict[str, int]]
    depth: dict[str, int] = field(default_factory=dict)
    oldest_ms: dict[str, int] = field(default_factory=dict)

    def total(self, kind: str) -> int:
        return sum(counts.get(kind, 0) for counts in self.queues.values())

    @property
    def processed(self) -> int:
        """Runs that finished their task (successful + failed)."""
        return self.total("successful") + self.total("failed")


@dataclass(frozen=True, slots=True)
class MetricMinutes:
    """The last minutes, oldest first (Redis time `now`), and how many task paths ran."""

    now: datetime
    series: int
    minutes: list[MinuteRuns]


@dataclass(frozen=True, slots=True)
class FailureNote:
    """One failed attempt as the metrics keep it."""

    at: datetime
    task_id: str
    retried: bool  # failed, but tried again later
    exception_class: str


@dataclass(frozen=True, slots=True)
class TaskMetrics:
    """Runs of one task path in one queue over a span (or since first seen: `total`)."""

    queue: str
    path: str
    last_seen: datetime  # its newest minute with runs (the first run in that minute)
    successful: int
    failed: int
    retried: int
    buckets: tuple[int, ...]  # runs per RUN_BUCKETS_MS bucket, the last one unbounded
    max_ms: int | None = None  # longest run (a span; None for totals)
    sum_ms: int | None = None  # sum of run times (totals; None for a span)
    failures: list[FailureNote] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return self.successful + self.failed + self.retried

    @property
    def failure_rate(self) -> float:
        """Failed or retried runs / runs (0.0 without runs)."""
        return (self.failed + self.retried) / self.runs if self.runs else 0.0

    def percentile(self, q: float) -> float | None:
        """The q-quantile of run time in ms (0 < q <= 1), estimated from the buckets like
        Prometheus's histogram_quantile (linear within a bucket); the last, unbounded bucket
        answers its lower bound (or max_ms when known). None without runs."""
        return percentile(self.buckets, q, self.max_ms)

    @property
    def p50(self) -> float | None:
        return self.percentile(0.5)

    @property
    def p95(self) -> float | None:
        return self.percentile(0.95)

    @property
    def last_failure(self) -> FailureNote | None:
        return self.failures[0] if self.failures else None

    def failures_by_class(self) -> list[tuple[str, list[FailureNote]]]:
        """The failures kept, grouped by exception class, the most frequent class first."""
        groups: dict[str, list[FailureNote]] = {}
        for note in self.failures:
            groups.setdefault(note.exception_class, []).append(note)
        return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def percentile(buckets: tuple[int, ...], q: float, max_ms: int | None = None) -> float | None:
    """See TaskMetrics.percentile."""
    total = sum(buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = RUN_BUCKETS_MS[i - 1] if i else 0
            if i >= len(RUN_BUCKETS_MS):  # unbounded
                return float(max(max_ms or 0, lower))
            upper = RUN_BUCKETS_MS[i]
            if max_ms is not None:
                upper = min(upper, max(max_ms, lower))
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(max_ms or 0)


def minutes_from_reply(reply: list[Any]) -> MetricMinutes:
    """Decode metrics_minutes.lua's reply."""
    minutes = []
    for start, flat in zip(reply[2::2], reply[3::2], strict=True):
        queues: dict[str, dict[str, int]] = {}
        depth: dict[str, int] = {}
        oldest: dict[str, int] = {}
        for name, count in zip(flat[::2], flat[1::2], strict=True):
            queue, _, kind = name.rpartition(":")
            if kind in KINDS:
                queues.setdefault(queue, {})[KINDS[kind]] = int(count)
            elif kind == "depth":
                depth[queue] = int(count)
            elif kind == "age":
                oldest[queue] = int(count)
        minutes.append(MinuteRuns(from_ms(start), queues, depth, oldest))  # type: ignore[arg-type]
    return MetricMinutes(from_ms(reply[0]), int(reply[1]), minutes)  # type: ignore[arg-type]


def _failure(entry: str) -> FailureNote | None:
    parts = entry.split("\t", 3)
    if len(parts) != 4 or not parts[0].isdigit():
        return None
    return FailureNote(from_ms(parts[0]), parts[1], parts[2] == "retry", parts[3])  # type: ignore[arg-type]


def series_from_reply(reply: list[Any]) -> list[TaskMetrics]:
    """Decode metrics_series.lua's reply, ordered by queue then task path."""
    out = []
    for item in reply[1:]:
        queue, path, last, ok, fail, retry, sum_ms, max_ms, buckets, recent = item
        notes = [note for note in (_failure(entry) for entry in recent) if note]
        out.append(
            TaskMetrics(
                queue=queue,
                path=path,
                last_seen=from_ms(last),  # type: ignore[arg-type]
                successful=int(ok),
                failed=int(fail),
                retried=int(retry),
                buckets=tuple(int(b) for b in buckets),
                max_ms=None if max_ms == "" else int(max_ms),
                sum_ms=None if sum_ms == "" else int(sum_ms),
                failures=notes,
            )
        )
    out.sort(key=lambda m: (m.queue, m.path))
    return out
