"""Server-rendered SVG charts of the admin (no JavaScript library, no inline style: sizes are
SVG attributes, colours classes of admin.css, so they pass a strict Content-Security-Policy):
runs per minute for the overview with the sampled queue depth and oldest-ready age under it,
and a task path's run-time histogram. This module computes the geometry; the templates
`_runs_chart.html` and `_histogram.html` draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse

from threadmill.backends.metric_records import RUN_BUCKETS_MS, MetricMinutes, MinuteRuns
from threadmill.backends.search_records import TaskFilter
from threadmill.filters import filter_params

#: Chart spans the overview offers: name -> (minutes shown, minutes per bar, label).
SPANS = {"hour": (60, 1, "last hour"), "day": (1440, 10, "last day")}
HEIGHT = 100.0  # viewBox units of the bar area
DEPTH_HEIGHT = 50.0  # viewBox units of the depth chart's bar area
BAR_STEP = 10.0  # viewBox units per bar (the bar is 8 wide)


@dataclass(frozen=True)
class Bar:
    """One bar: a minute (or several), its runs, and where its failures are listed."""

    x: float
    start: datetime
    end: datetime
    successful: int
    failed: int
    retried: int
    ok_y: float
    ok_height: float
    fail_y: float
    fail_height: float
    failures_url: str  # '' when it has no failures

    @property
    def processed(self) -> int:
        return self.successful + self.failed


@dataclass(frozen=True)
class DepthBar:
    """Ready tasks (all queues) and the longest wait in a bar's minutes, as sampled."""

    x: float
    start: datetime
    end: datetime
    ready: int | None  # the largest sample; None: no pool sampled these minutes
    oldest_seconds: float | None  # the longest oldest-ready age sampled
    y: float
    height: float
    age_y: float | None  # the age mark's height in the chart (scaled to the longest age)


@dataclass(frozen=True)
class DepthChart:
    bars: list[DepthBar]
    width: float
    height: float
    peak: int
    longest_wait: float | None  # seconds
    sampled: bool


def depth_chart(groups: list[list[MinuteRuns]]) -> DepthChart:
    """Sampled queue depth per bar (the largest sample of its minutes, summed over queues),
    with the longest oldest-ready age as a mark on its own scale."""
    samples = []
    for group in groups:
        depths = [sum(m.depth.values()) for m in group if m.depth]
        ages = [age for m in group for age in m.oldest_ms.values()]
        samples.append((group, max(depths) if depths else None, max(ages) if ages else None))
    peak = max((d for _, d, _ in samples if d is not None), default=0)
    longest = max((a for _, _, a in samples if a is not None), default=None)
    bars = []
    for i, (group, ready, age) in enumerate(samples):
        height = (ready or 0) * DEPTH_HEIGHT / peak if peak else 0.0
        age_y = None
        if age is not None and longest:
            age_y = DEPTH_HEIGHT - age * DEPTH_HEIGHT / longest
        bars.append(
            DepthBar(
                x=i * BAR_STEP + 1,
                start=group[0].start,
                end=group[-1].start + timedelta(minutes=1),
                ready=ready,
                oldest_seconds=None if age is None else age / 1000,
                y=DEPTH_HEIGHT - height,
                height=height,
                age_y=age_y,
            )
        )
    return DepthChart(
        bars=bars,
        width=len(bars) * BAR_STEP,
        height=DEPTH_HEIGHT,
        peak=peak,
        longest_wait=None if longest is None else longest / 1000,
        sampled=any(b.ready is not None for b in bars),
    )


@dataclass(frozen=True)
class RunsChart:
    span: str
    label: str
    minutes_per_bar: int
    bars: list[Bar]
    width: float
    height: float
    peak: int
    processed: int
    failed: int
    retried: int
    start: datetime | None
    end: datetime | None
    depth: DepthChart


def _failures_url(alias: str, merged: list[MinuteRuns], start: datetime, end: datetime) -> str:
    """The failed list of the queue with the most failures in these minutes, narrowed to
    them with the list's search (`?since=&until=`, inclusive, to the millisecond)."""
    per_queue: dict[str, int] = {}
    for minute in merged:
        for queue, counts in minute.queues.items():
            per_queue[queue] = per_queue.get(queue, 0) + counts.get("failed", 0)
    worst = max(per_queue.items(), key=lambda item: (item[1], item[0]), default=("", 0))
    if not worst[1]:
        return ""
    base = reverse("admin:threadmill_task_list", args=[alias, worst[0], "failed"])
    last = end - timedelta(milliseconds=1)  # the search's `until` is inclusive
    params = filter_params(TaskFilter(since=start, until=last))
    return f"{base}?{urlencode(params)}"


def runs_chart(alias: str, data: MetricMinutes, span: str) -> RunsChart:
    """Processed (successful over failed) per bar, scaled to the highest bar."""
    _, per_bar, label = SPANS[span]
    groups = [data.minutes[i : i + per_bar] for i in range(0, len(data.minutes), per_bar)]
    totals = []
    for group in groups:
        ok = sum(m.total("successful") for m in group)
        failed = sum(m.total("failed") for m in group)
        retried = sum(m.total("retried") for m in group)
        totals.append((group, ok, failed, retried))
    peak = max((ok + failed for _, ok, failed, _ in totals), default=0)
    scale = HEIGHT / peak if peak else 0.0
    bars = []
    for i, (group, ok, failed, retried) in enumerate(totals):
        start = group[0].start
        end = group[-1].start + timedelta(minutes=1)
        fail_h = failed * scale
        ok_h = ok * scale
        bars.append(
            Bar(
                x=i * BAR_STEP + 1,
                start=start,
                end=end,
                successful=ok,
                failed=failed,
                retried=retried,
                ok_y=HEIGHT - fail_h - ok_h,
                ok_height=ok_h,
                fail_y=HEIGHT - fail_h,
                fail_height=fail_h,
                failures_url=_failures_url(alias, group, start, end) if failed else "",
            )
        )
    return RunsChart(
        span=span,
        label=label,
        minutes_per_bar=per_bar,
        bars=bars,
        width=len(bars) * BAR_STEP,
        height=HEIGHT,
        peak=peak,
        processed=sum(b.processed for b in bars),
        failed=sum(b.failed for b in bars),
        retried=sum(b.retried for b in bars),
        start=bars[0].start if bars else None,
        end=bars[-1].end if bars else None,
        depth=depth_chart(groups),
    )


@dataclass(frozen=True)
class HistogramRow:
    label: str
    count: int
    y: float
    width: float  # of the bar, in viewBox units (0-300)


def histogram_rows(buckets: tuple[int, ...]) -> list[HistogramRow]:
    """One row per run-time bucket, from the first to the last that has runs."""
    used = [i for i, count in enumerate(buckets) if count]
    if not used:
        return []
    peak = max(buckets)
    rows = []
    for n, i in enumerate(range(used[0], used[-1] + 1)):
        lower = RUN_BUCKETS_MS[i - 1] if i else 0
        if i < len(RUN_BUCKETS_MS):
            label = f"{_ms(lower)} to {_ms(RUN_BUCKETS_MS[i])}"
        else:
            label = f"> {_ms(lower)}"
        rows.append(HistogramRow(label, buckets[i], n * 20.0, 300.0 * buckets[i] / peak))
    return rows


def _ms(value: int) -> str:
    if value >= 60_000:
        return f"{value // 60_000} min"
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value} ms"
