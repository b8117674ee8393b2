"""Drawing the dashboard: the whole screen from a `Snapshot`, fitted to the terminal.

`render_screen(snapshot, width, height)` stacks the panels (`panels.py`, `upcoming.py`,
`recent.py`): the header, the queues table, the pools tree, the next runs of periodic
schedules (when the alias has any), the newest failures and the throughput sparklines (or,
in the per-task view, the tasks table of `tasks_panel.py`). It fits the given size: columns
are dropped in priority order when the width is short, idle threads are folded and rows
cut when the height is short. Nothing here reads a
clock, a terminal or Redis: the caller passes them.
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.text import Text

from .layout import ASCII, UNICODE, fmt_duration, task_label
from .panels import render_header, render_queues, render_workers
from .recent import render_failures, render_jobs, render_throughput
from .tasks_panel import render_tasks
from .upcoming import NEXT_RUNS, next_runs_summary, panel_lines, render_schedules
from .views import Snapshot

# ---- the screen ---------------------------------------------------------------------------


def render_screen(
    snapshot: Snapshot,
    width: int,
    height: int | None = None,
    *,
    clock: datetime | None = None,
    waiting: float = 0.0,
    retry_interval: float | None = None,
    ascii_only: bool = False,
    view: str = "overview",
) -> RenderableType:
    """The whole dashboard for a terminal of width x height (height None: no limit).

    clock: the time to show (default: when the snapshot was taken); waiting: seconds the
    current read has gone unanswered (the screen says so); retry_interval: how often a
    live screen retries a Redis that is down; ascii_only: no box-drawing glyphs; view:
    "overview", or "tasks" for the per-task view (key `t`) in place of the pools."""
    width = max(width, 20)
    glyphs = ASCII if ascii_only else UNICODE
    clock = clock or snapshot.taken_at
    header = render_header(snapshot, width, clock, waiting, glyphs, retry_interval)
    if snapshot.server is None:  # nothing read yet: no tables of made-up zeros
        return header
    queues = render_queues(snapshot, width, glyphs)
    if view == "tasks":
        limit = None if height is None else max(1, height - _height(header, width) - 8)
        tasks = render_tasks(snapshot, width, glyphs, limit)
        return Group(header, Text(""), tasks)
    throughput = render_throughput(snapshot, width, glyphs)
    failures: RenderableType = render_failures(snapshot, width, glyphs)
    schedules = render_schedules(snapshot, width, glyphs)
    jobs = render_jobs(snapshot, width) if snapshot.jobs else None
    job_lines = len(snapshot.jobs) + 2 if snapshot.jobs else 0
    worker_rows_limit = None
    if height is not None:
        # Everything but the workers tree keeps its size; the tree gets what is left. When
        # that leaves the tree no room, the failures shrink to one line, then the next runs
        # to fewer rows, then to one line.
        queue_rows = len(snapshot.queues) + (1 if len(snapshot.queues) > 1 else 0)
        fixed = (
            _height(header, width)
            + 4  # blank lines between the panels
            + 3  # queues: title, header, rule
            + queue_rows
            + 3  # workers: title, header, rule
            + _height(throughput, width)
            + job_lines
        )
        failure_lines = 3 + len(snapshot.failures) if snapshot.failures else 1
        limit = NEXT_RUNS
        schedule_lines = panel_lines(snapshot, limit) + 1 if schedules is not None else 0
        if height - fixed - failure_lines - schedule_lines < 4 and snapshot.failures:
            failures = _failures_summary(snapshot, width)
            failure_lines = 1
        while schedules is not None and height - fixed - failure_lines - schedule_lines < 4:
            limit -= 1
            if limit == 0:
                schedules, schedule_lines = next_runs_summary(snapshot, glyphs), 2
                break
            schedules = render_schedules(snapshot, width, glyphs, limit)
            schedule_lines = panel_lines(snapshot, limit) + 1
        worker_rows_limit = max(1, height - fixed - failure_lines - schedule_lines)
    workers = render_workers(snapshot, width, glyphs, worker_rows_limit)
    blank = Text("")
    panels = [p for p in (header, queues, workers, schedules, failures, jobs, throughput) if p]
    stacked: list[RenderableType] = []
    for panel in panels:
        stacked += [blank, panel] if stacked else [panel]
    return Group(*stacked)


def _failures_summary(snapshot: Snapshot, width: int) -> Text:
    newest = snapshot.failures[0]
    text = Text.assemble(
        ("Recent failures ", "bold"),
        (f"{len(snapshot.failures)}, newest: ", "dim"),
        task_label(newest.task_path, width),
        " ",
        (newest.error_class.rsplit(".", 1)[-1], "red"),
        (f" {fmt_duration(newest.ago_seconds)} ago", "dim"),
    )
    text.no_wrap, text.overflow = True, "crop"
    return text


def _height(renderable: RenderableType, width: int) -> int:
    """Lines a header or throughput block takes at width (wrapped text counted)."""
    if isinstance(renderable, Group):
        return sum(_height(r, width) for r in renderable.renderables)
    if isinstance(renderable, Text):
        if renderable.no_wrap:
            return 1
        return max(1, -(-renderable.cell_len // width))
    return 1  # a one-row grid
