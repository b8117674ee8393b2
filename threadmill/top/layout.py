"""Building blocks of the dashboard's layout, independent of what it shows: glyph sets
(Unicode or ASCII), short formats for durations, sizes, rates and counts, a table that fits a
width by dropping its least important columns, and a sparkline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

Cell = Text | str


@dataclass(frozen=True)
class Glyphs:
    """Characters of the tree, the sparkline and separators (ASCII for terminals that
    cannot show more; rich swaps the table borders itself)."""

    branch: str
    last: str
    pipe: str
    space: str
    bars: str  # lowest to highest
    no_data: str
    sep: str
    more: str
    overflow: str  # of cut cells: rich's "ellipsis" (…) or "crop"


UNICODE = Glyphs("├─ ", "└─ ", "│  ", "   ", "▁▂▃▄▅▆▇█", "·", " · ", "…", "ellipsis")
ASCII = Glyphs("|- ", "`- ", "|  ", "   ", "_.-~=+*#", ".", " | ", "...", "crop")


# ---- formatting ---------------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """0.4s, 12s, 3m04s, 2h05m, 3d04h; - for unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def fmt_bytes(count: int) -> str:
    """812K, 12M, 1.2G; - for unknown (0)."""
    if count <= 0:
        return "-"
    value = float(count)
    for unit in ("B", "K", "M", "G"):
        if value < 1024:
            return f"{value:.1f}{unit}" if value < 10 and unit != "B" else f"{value:.0f}{unit}"
        value /= 1024
    return f"{value:.1f}T"


def fmt_rate(rate: float | None) -> str:
    """Tasks per second: 0, 0.4, 12, 1.2k; - before a second frame."""
    if rate is None:
        return "-"
    if rate == 0:
        return "0"
    if rate < 10:
        return f"{rate:.1f}"
    if rate < 1000:
        return f"{rate:.0f}"
    return f"{rate / 1000:.1f}k"


def sum_rate(values: list[float | None]) -> float | None:
    """The sum of some rates (queues into `all`), or None when one of them is unknown."""
    return None if any(v is None for v in values) else round(sum(v or 0 for v in values), 3)


def fmt_count(value: int) -> str:
    return f"{value:,}"


#: Below this width a task is shown by its function name, without its module.
SHORT_PATHS_BELOW = 80


def task_label(path: str, width: int) -> str:
    return path.rsplit(".", 1)[-1] if width < SHORT_PATHS_BELOW else path


def short_path(path: str, room: int) -> str:
    """A dotted task path in at most `room` characters when it can be, shortening modules
    before the function, whose name stays whole: `demo.tasks.send_email`, then
    `d.tasks.send_email` (leading modules to initials, the last one kept), `d.t.send_email`,
    then `send_email` alone. A function name longer than room is returned whole (the table
    cuts it)."""
    if len(path) <= room or "." not in path:
        return path
    *modules, function = path.split(".")
    for keep in range(len(modules) - 1, -1, -1):  # modules kept whole, from the right
        shortened = [m[:1] for m in modules[: len(modules) - keep]]
        candidate = ".".join([*shortened, *modules[len(modules) - keep :], function])
        if len(candidate) <= room:
            return candidate
    return function


# ---- tables that fit ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    priority: int  # lower is kept longer when the width is short
    justify: str = "right"
    squeeze: int = 0  # widest it gets; it may be cut (with an ellipsis) down to `least`
    least: int = 8
    #: How a too-long cell is made to fit before the ellipsis cuts it: (text, room) -> text.
    shorten: Callable[[str, int], str] | None = None


def fit_table(
    title: str,
    columns: list[Column],
    rows: list[list[Cell]],
    width: int,
    glyphs: Glyphs = UNICODE,
) -> Table:
    """A table with as many columns as `width` allows, chosen by priority. Squeezable
    columns enter at their least width, then share what is left up to their natural one."""
    natural, least = [], []
    for n, column in enumerate(columns):
        cells = [Text(c) if isinstance(c, str) else c for c in (r[n] for r in rows)]
        needed = max([len(column.header), *(c.cell_len for c in cells)])
        if column.squeeze:
            needed = min(needed, column.squeeze)
        natural.append(needed)
        fewest = min(needed, column.least) if column.squeeze else needed
        if column.shorten is not None:  # room for the shortest form of each (a whole name)
            forms = [(c.plain, column.shorten(c.plain, 0)) for c in cells]
            shortest = [cell_len(short) for plain, short in forms if short != plain]
            fewest = max([fewest, *(min(n, needed) for n in shortest)])
        least.append(fewest)
    by_priority = sorted(range(len(columns)), key=lambda i: columns[i].priority)
    kept: dict[int, int] = {}  # column -> width
    used = -1  # n columns take n - 1 dividers and two cells of padding each
    for n in by_priority:
        if least[n] + 3 <= width - used or not kept:
            kept[n] = least[n]
            used += least[n] + 3
    for n in by_priority:
        if n in kept and kept[n] < natural[n]:
            extra = min(natural[n] - kept[n], max(0, width - used))
            kept[n] += extra
            used += extra
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        header_style="bold dim",
    )
    for n, column in enumerate(columns):
        if n in kept:
            table.add_column(
                column.header,
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=True,
                overflow=glyphs.overflow,  # type: ignore[arg-type]
                max_width=kept[n] if column.squeeze else None,
            )
    for row in rows:
        table.add_row(
            *(_fitted(columns[n], cell, kept[n]) for n, cell in enumerate(row) if n in kept)
        )
    return table


def _fitted(column: Column, cell: Cell, room: int) -> Cell:
    """cell, shortened by its column's `shorten` when it is wider than room."""
    text = Text(cell) if isinstance(cell, str) else cell
    if column.shorten is None or text.cell_len <= room:
        return cell
    return Text(column.shorten(text.plain, room), style=text.style)


def sparkline(values: list[float | None], glyphs: Glyphs) -> Text:
    """One character per value, scaled to the largest; no data as a dot."""
    peak = max((v for v in values if v is not None), default=0.0)
    text = Text()
    for value in values:
        if value is None:
            text.append(glyphs.no_data, style="dim")
        elif value <= 0 or peak <= 0:
            text.append(glyphs.bars[0], style="dim")
        else:
            level = 1 + round((len(glyphs.bars) - 2) * value / peak)
            text.append(glyphs.bars[min(level, len(glyphs.bars) - 1)], style="green")
    return text
