"""The dashboard's per-task view (key `t`): one row per queue and task path with its runs,
failure rate and run-time percentiles over the last hour, from the run metrics the workers
write (docs/metrics.md). A pure function from a `Snapshot` to a rich renderable."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from .layout import UNICODE, Cell, Column, Glyphs, fit_table, fmt_count, fmt_duration, task_label
from .views import Snapshot, TaskView

TASK_COLUMNS = [
    Column("Task", 0, "left", squeeze=48, least=12),
    Column("Queue", 3, "left", squeeze=12),
    Column("Runs", 1),
    Column("Fail %", 1),
    Column("p50", 2),
    Column("p95", 2),
    Column("Max", 4),
    Column("Retried", 5),
    Column("Last error", 6, "left", squeeze=24),
]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.1f}s"
    return f"{value:,.0f}ms" if value >= 10 else f"{value:.1f}ms"


def _row(t: TaskView, width: int) -> list[Cell]:
    rate = Text(f"{100 * t.failure_rate:.1f}", style="red" if t.failure_rate else "")
    return [
        task_label(t.path, width),
        t.queue,
        fmt_count(t.runs),
        rate,
        _ms(t.p50_ms),
        _ms(t.p95_ms),
        _ms(t.max_ms),
        fmt_count(t.retried),
        Text(t.last_error_class.rsplit(".", 1)[-1], style="red") if t.last_error_class else "",
    ]


def render_tasks(
    snapshot: Snapshot, width: int, glyphs: Glyphs = UNICODE, limit: int | None = None
) -> RenderableType:
    title = f"Tasks, last {fmt_duration(snapshot.task_span_seconds)} (t: back)"
    if snapshot.tasks is None:
        return Text.assemble((title + " ", "bold"), (f"reading{glyphs.more}", "dim"))
    if not snapshot.tasks:
        return Text.assemble((title + " ", "bold"), ("no runs", "dim"))
    shown = snapshot.tasks[:limit] if limit is not None else snapshot.tasks
    rows = [_row(t, width) for t in shown]
    table = fit_table(title, TASK_COLUMNS, rows, width, glyphs)
    if len(shown) < len(snapshot.tasks):
        table.caption = f"{len(snapshot.tasks) - len(shown)} more not shown"
    return table
