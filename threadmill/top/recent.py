"""The panels of what happened recently: the newest failures and the throughput
sparklines, pure functions from a `Snapshot` to rich renderables (see `panels.py` for the
header, the queues and the workers).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from .layout import (
    UNICODE,
    Cell,
    Column,
    Glyphs,
    fit_table,
    fmt_duration,
    fmt_rate,
    short_path,
    sparkline,
    sum_rate,
    task_label,
)
from .views import FailureView, Snapshot, ThroughputBucket

# ---- failures -----------------------------------------------------------------------------

FAILURE_COLUMNS = [
    Column("When", 2),
    Column("Queue", 3, "left", squeeze=12),
    Column("Task", 0, "left", squeeze=40, least=12, shorten=short_path),
    Column("Error", 1, "left", squeeze=30, least=10),
    Column("Task id", 4, "left"),
]


def _failure_row(failure: FailureView, width: int) -> list[Cell]:
    return [
        f"{fmt_duration(failure.ago_seconds)} ago",
        failure.queue,
        task_label(failure.task_path, width),
        Text(failure.error_class.rsplit(".", 1)[-1], style="red"),
        Text(failure.task_id[:12], style="dim"),
    ]


def render_failures(
    snapshot: Snapshot, width: int, glyphs: Glyphs = UNICODE, limit: int | None = None
) -> RenderableType:
    failures = snapshot.failures[:limit] if limit is not None else snapshot.failures
    if not failures:
        return Text.assemble(("Recent failures ", "bold"), ("none", "dim"))
    rows = [_failure_row(f, width) for f in failures]
    return fit_table("Recent failures", FAILURE_COLUMNS, rows, width, glyphs)


def render_jobs(snapshot: Snapshot, width: int) -> RenderableType:
    """The unfinished bulk jobs, one line each (nothing when there are none)."""
    lines = [Text.assemble(("Bulk jobs ", "bold"), (f"{len(snapshot.jobs)} unfinished", "dim"))]
    for job in snapshot.jobs:
        where = f" where {job.where}" if job.where else ""
        line = Text.assemble(
            f"{job.action} {job.queue}/{job.tasks}{where} ",
            (f"{job.status} {job.percent}%", "yellow" if job.status == "waiting" else "cyan"),
            (f" {job.examined:,}/{job.total:,} examined, {job.acted:,} done · {job.who}", "dim"),
        )
        line.no_wrap, line.overflow = True, "ellipsis"
        lines.append(line)
    return Group(*lines)


# ---- throughput ---------------------------------------------------------------------------


def _series(buckets: list[ThroughputBucket], attr: str, seconds: int) -> list[float | None]:
    values = []
    for bucket in buckets:
        count = getattr(bucket, attr)
        values.append(None if count is None else count / seconds)
    return values


def render_throughput(snapshot: Snapshot, width: int, glyphs: Glyphs) -> RenderableType:
    # The last bucket is still filling: the sparkline shows complete ones only.
    complete = snapshot.throughput[:-1]
    seconds = snapshot.bucket_seconds
    minutes = len(snapshot.throughput) * seconds // 60
    title = Text.assemble(
        ("Throughput ", "bold"), (f"tasks/s, last {minutes} min, {seconds}s per bar", "dim")
    )
    title.no_wrap, title.overflow = True, glyphs.overflow  # type: ignore[assignment]
    if not any(b.finished is not None for b in snapshot.throughput):
        return Text.assemble(
            ("Throughput ", "bold"),
            ("rates need two frames: the live screen draws them over the last minutes", "dim"),
        )
    now_out = sum_rate([q.out_per_second for q in snapshot.queues]) if snapshot.queues else None
    now_in = sum_rate([q.in_per_second for q in snapshot.queues]) if snapshot.queues else None
    room = max(0, width - 32)
    lines: list[RenderableType] = [title]
    for label, attr, now in (("done", "finished", now_out), ("in", "enqueued", now_in)):
        values = _series(complete, attr, seconds)[-room:] if room else []
        known = [v for v in values if v is not None]
        line = Text(f"{label:>5} ", style="dim")
        if len(values) >= 5:
            line.append_text(sparkline(values, glyphs))
            line.append(" ")
        line.append(f"now {fmt_rate(now)}")
        if known:
            line.append(f"{glyphs.sep}highest bar {fmt_rate(max(known))}", style="dim")
        lines.append(line)
    return Group(*lines)
