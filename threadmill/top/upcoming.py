"""The dashboard's "Next runs" panel: the periodic schedules due soonest, a pure function
from a `Snapshot` to a rich renderable (None when the alias has no schedules: no panel).

Each row: the schedule's name (paused ones marked: their slots are skipped), when its next
slot is in the dashboard's local time and how far off it is ("in 3m04s", measured on Redis's
clock when the frame was read), its task, and its last run's status. Schedules whose entry
has a check problem do not run; one line names them.
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.text import Text

from .layout import UNICODE, Cell, Column, Glyphs, fit_table, fmt_duration, task_label
from .views import ScheduleView, Snapshot

#: Schedules shown in the panel (the soonest due).
NEXT_RUNS = 5

SCHEDULE_COLUMNS = [
    Column("Schedule", 0, "left", squeeze=28, least=12),
    Column("When", 1, "left"),
    Column("In", 2, "left"),
    Column("Task", 4, "left", squeeze=40, least=10),
    Column("Last run", 3, "left", squeeze=24, least=10),
]

STATUS_STYLES = {"FAILED": "red", "RUNNING": "cyan", "SUCCESSFUL": "green"}


def upcoming(snapshot: Snapshot, limit: int = NEXT_RUNS) -> list[ScheduleView]:
    """The schedules that will run, soonest first (paused ones too: they are marked)."""
    runnable = [s for s in snapshot.schedules if s.next_slot is not None and not s.problem]
    return sorted(runnable, key=lambda s: (s.next_slot, s.name))[:limit]


def panel_lines(snapshot: Snapshot, limit: int = NEXT_RUNS) -> int:
    """Lines the panel takes (0 when hidden), for the screen's height budget."""
    if not snapshot.schedules:
        return 0
    rows = len(upcoming(snapshot, limit))
    more = len(upcoming(snapshot, len(snapshot.schedules))) > rows
    broken = any(s.problem for s in snapshot.schedules)
    return (3 + rows if rows else 1) + int(more) + int(broken)


def when_text(moment: datetime, now: datetime | None) -> str:
    """The local time of a slot: 02:00:00 today, with its date on another day."""
    local = moment.astimezone()
    if now is not None and local.date() == now.astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def _row(schedule: ScheduleView, snapshot: Snapshot, width: int) -> list[Cell]:
    name = Text(schedule.name, style="bold")
    if schedule.paused:
        name.append(" paused", style="yellow")
    due = schedule.due_in_seconds
    assert schedule.next_slot is not None  # upcoming() keeps those only
    when = Text(when_text(schedule.next_slot, snapshot.redis_time))
    if schedule.paused:
        when.stylize("dim")
    run = schedule.last_run
    last: Cell = "-"
    if run is not None:
        status = run.status or "expired"
        last = Text(status, style=STATUS_STYLES.get(status, ""))
        if run.slot is not None and snapshot.redis_time is not None:
            ago = (snapshot.redis_time - run.slot).total_seconds()
            last.append(f" {fmt_duration(max(0.0, ago))} ago", style="dim")
    return [
        name,
        when,
        "due" if due is not None and due <= 0 else f"in {fmt_duration(due)}",
        task_label(schedule.task, width),
        last,
    ]


def render_schedules(
    snapshot: Snapshot, width: int, glyphs: Glyphs = UNICODE, limit: int = NEXT_RUNS
) -> RenderableType | None:
    """The panel, or None when the alias has no schedules."""
    if not snapshot.schedules:
        return None
    shown = upcoming(snapshot, limit)
    parts: list[RenderableType] = []
    if shown:
        rows = [_row(s, snapshot, width) for s in shown]
        parts.append(fit_table("Next runs", SCHEDULE_COLUMNS, rows, width, glyphs))
    else:
        parts.append(Text.assemble(("Next runs ", "bold"), ("none", "dim")))
    hidden = len(upcoming(snapshot, len(snapshot.schedules))) - len(shown)
    if hidden > 0:
        parts.append(
            Text(f"{glyphs.more} {hidden} more (manage.py threadmill_ctl schedules)", style="dim")
        )
    broken = [s.name for s in snapshot.schedules if s.problem]
    if broken:
        line = Text(
            f"! not run, their entry has a problem (manage.py check): {', '.join(broken)}",
            style="yellow",
        )
        line.no_wrap, line.overflow = True, glyphs.overflow  # type: ignore[assignment]
        parts.append(line)
    return Group(*parts)


def next_runs_summary(snapshot: Snapshot, glyphs: Glyphs = UNICODE) -> Text:
    """The panel in one line, for a short terminal: the soonest runs and when."""
    text = Text("Next runs ", style="bold")
    for n, schedule in enumerate(upcoming(snapshot)):
        due = schedule.due_in_seconds
        when = "due" if due is not None and due <= 0 else f"in {fmt_duration(due)}"
        text.append(glyphs.sep if n else "")
        text.append(schedule.name)
        text.append(f" {when}", style="dim")
        if schedule.paused:
            text.append(" paused", style="yellow")
    text.no_wrap, text.overflow = True, glyphs.overflow  # type: ignore[assignment]
    return text
