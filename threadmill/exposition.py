"""Threadmill's metrics in the Prometheus text format: what the metrics view and
`threadmill_ctl stats --prometheus` print, read from Redis through the backend interface (so
every process serving it says the same, however many there are).

`collect(backends)` reads each alias once (its overview, and its run metrics since each task
path was first seen) into `Family` values; `render(families)` writes the text format, with
`prometheus_client` when it is installed (`threadmill[prometheus]`), else with the writer
here, which writes the same text. The metric names are listed in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.health_records import Overview
from threadmill.backends.metric_records import RUN_BUCKETS_MS, TaskMetrics
from threadmill.exceptions import ThreadmillError

#: The content type of the text format (version 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = dict[str, str]
#: A histogram sample's value: cumulative counts by upper bound (seconds), and the sum.
HistogramValue = tuple[list[tuple[float, int]], float]


@dataclass
class Family:
    """One metric: `kind` gauge, counter or histogram. A sample is (labels, value); a
    histogram's value is (cumulative bucket counts by upper bound in seconds, sum)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[Labels, float | HistogramValue]] = field(default_factory=list)

    def add(self, labels: Labels, value: float | HistogramValue) -> None:
        self.samples.append((labels, value))


def _families() -> dict[str, Family]:
    spec = [
        ("threadmill_up", "gauge", "1 when the backend's Redis answered this scrape, else 0."),
        ("threadmill_queue_ready", "gauge", "Tasks ready to run."),
        ("threadmill_queue_deferred", "gauge", "Tasks waiting for run_after (incl. retrying)."),
        ("threadmill_queue_retrying", "gauge", "Deferred tasks waiting for another attempt."),
        ("threadmill_queue_running", "gauge", "Tasks leased to a worker thread."),
        ("threadmill_queue_paused", "gauge", "1 when the queue is paused (no pool takes tasks)."),
        ("threadmill_queue_oldest_ready_age_seconds", "gauge",
         "How long the oldest ready task has waited (0: none ready)."),
        ("threadmill_queue_tasks", "counter",
         "Tasks of a queue by event (enqueued, successful, failed, retried), all time."),
        ("threadmill_task_runs", "counter",
         "Attempts acknowledged per queue and task path by outcome (successful, failed, "
         "retried), since the task path was first seen within metrics_window."),
        ("threadmill_task_run_seconds", "histogram",
         "Run time of acknowledged attempts (Redis time from lease to acknowledgement)."),
        ("threadmill_pools", "gauge", "Pools whose heartbeat is current."),
        ("threadmill_pool_workers", "gauge", "Worker processes of a pool."),
        ("threadmill_pool_threads", "gauge", "Worker threads of a pool."),
        ("threadmill_pool_busy_threads", "gauge", "Worker threads of a pool running a task."),
        ("threadmill_pool_quiet", "gauge", "1 when the pool was asked to take no new tasks."),
    ]  # fmt: skip
    return {name: Family(name, kind, text) for name, kind, text in spec}


def _age(measured_at: datetime, oldest: datetime | None) -> float:
    return max(0.0, (measured_at - oldest).total_seconds()) if oldest else 0.0


def add_overview(families: dict[str, Family], alias: str, overview: Overview) -> None:
    """Queue depths and counters, pools, workers and busy threads of one alias."""
    f = families
    for q in overview.queues:
        labels = {"backend": alias, "queue": q.queue}
        f["threadmill_queue_ready"].add(labels, q.ready)
        f["threadmill_queue_deferred"].add(labels, q.deferred)
        f["threadmill_queue_retrying"].add(labels, q.retrying)
        f["threadmill_queue_running"].add(labels, q.running)
        f["threadmill_queue_paused"].add(labels, 1 if q.paused else 0)
        age = _age(q.measured_at, q.oldest_ready_at)
        f["threadmill_queue_oldest_ready_age_seconds"].add(labels, age)
        for event, value in (
            ("enqueued", q.enqueued_total),
            ("successful", q.successful_total),
            ("failed", q.failed_total),
            ("retried", q.retried_total),
        ):
            f["threadmill_queue_tasks"].add({**labels, "event": event}, value)
    live = [p for p in overview.pools if not p.stale]
    f["threadmill_pools"].add({"backend": alias}, len(live))
    for status in live:
        report = status.report
        labels = {"backend": alias, "pool": status.pool_id, "host": report.host}
        threads = [t for w in report.workers for t in w.threads]
        f["threadmill_pool_workers"].add(labels, len(report.workers))
        f["threadmill_pool_threads"].add(labels, len(threads))
        f["threadmill_pool_busy_threads"].add(labels, sum(1 for t in threads if t.task_id))
        f["threadmill_pool_quiet"].add(labels, 1 if report.quiet else 0)


def add_task_metrics(families: dict[str, Family], alias: str, series: list[TaskMetrics]) -> None:
    """Runs by outcome and the run-time histogram of each (queue, task path)."""
    bounds = [ms / 1000 for ms in RUN_BUCKETS_MS] + [math.inf]
    for m in series:
        labels = {"backend": alias, "queue": m.queue, "task": m.path}
        for outcome in ("successful", "failed", "retried"):
            runs = getattr(m, outcome)
            families["threadmill_task_runs"].add({**labels, "outcome": outcome}, runs)
        cumulative: list[tuple[float, int]] = []
        total = 0
        for bound, count in zip(bounds, m.buckets, strict=False):
            total += count
            cumulative.append((bound, total))
        histogram: HistogramValue = (cumulative, (m.sum_ms or 0) / 1000)
        families["threadmill_task_run_seconds"].add(labels, histogram)


def collect(backends: Iterable[ThreadmillBackend]) -> list[Family]:
    """Every family, read from each backend (an alias whose Redis does not answer gets
    threadmill_up 0 and nothing else)."""
    families = _families()
    for backend in backends:
        try:
            overview = backend.overview(recent_failures=0)
            series = backend.task_metrics(span=None) if backend.config.metrics_window else []
        except ThreadmillError:
            families["threadmill_up"].add({"backend": backend.alias}, 0)
            continue
        families["threadmill_up"].add({"backend": backend.alias}, 1)
        add_overview(families, backend.alias, overview)
        add_task_metrics(families, backend.alias, series)
    return list(families.values())


# ---- the text format ----------------------------------------------------------------------


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _escape(text: str, quote: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    pairs = sorted(labels.items())  # as prometheus_client writes them
    return "{" + ",".join(f'{k}="{_escape(v, True)}"' for k, v in pairs) + "}"


def render_plain(families: list[Family]) -> str:
    """The text format without prometheus_client (the same text it writes)."""
    lines: list[str] = []
    for f in families:
        name = f"{f.name}_total" if f.kind == "counter" else f.name
        lines.append(f"# HELP {name} {_escape(f.help, False)}")
        lines.append(f"# TYPE {name} {f.kind}")
        for labels, value in f.samples:
            if not isinstance(value, tuple):
                lines.append(f"{name}{_labels(labels)} {_number(value)}")
                continue
            buckets, total = value
            for bound, count in buckets:
                bucket = _labels({**labels, "le": _number(bound)})
                lines.append(f"{name}_bucket{bucket} {_number(count)}")
            count = buckets[-1][1] if buckets else 0
            lines.append(f"{name}_count{_labels(labels)} {_number(count)}")
            lines.append(f"{name}_sum{_labels(labels)} {_number(total)}")
    return "\n".join(lines) + "\n"


def render_client(families: list[Family]) -> str:
    """The text format written by prometheus_client (ImportError without it)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    kinds = {
        "gauge": GaugeMetricFamily,
        "counter": CounterMetricFamily,
        "histogram": HistogramMetricFamily,
    }

    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            for f in families:
                names = list(f.samples[0][0]) if f.samples else []
                metric = kinds[f.kind](f.name, f.help, labels=names)
                for labels, value in f.samples:
                    values = [labels[n] for n in names]
                    if isinstance(value, tuple):
                        buckets, total = value
                        pairs = [(_number(bound), count) for bound, count in buckets]
                        metric.add_metric(values, pairs, sum_value=total)
                    else:
                        metric.add_metric(values, value)
                yield metric

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry).decode()


def render(families: list[Family]) -> str:
    """The text format: prometheus_client's when installed, else render_plain's."""
    try:
        return render_client(families)
    except ImportError:
        return render_plain(families)


def threadmill_backends() -> list[ThreadmillBackend]:
    """Every Threadmill alias in settings.TASKS, in their order."""
    from django.conf import settings
    from django.tasks import task_backends

    aliases = list(getattr(settings, "TASKS", {}) or {})
    return [b for b in (task_backends[a] for a in aliases) if isinstance(b, ThreadmillBackend)]
