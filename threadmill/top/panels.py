"""The panels of the dashboard's present: pure functions from a `Snapshot` to rich
renderables.

The header (backend, Redis, pools at a glance, warnings), the queues table and the pools as
a tree (master -> worker processes -> threads -> the task each runs). The newest failures
and the throughput sparklines are in `recent.py`. Each fits the width it is given (see
`layout.fit_table`).
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .layout import (
    UNICODE,
    Cell,
    Column,
    Glyphs,
    fit_table,
    fmt_bytes,
    fmt_count,
    fmt_duration,
    fmt_rate,
    short_path,
    sum_rate,
    task_label,
)
from .views import PoolView, QueueView, Snapshot

#: A running task is highlighted from this runtime on, and in red from half its lease_ttl
#: (past lease_ttl it is FAILED with AcknowledgementTimeout and its worker killed).
LONG_TASK_SECONDS = 60.0
#: A ready task older than this is highlighted: the queue is not keeping up.
OLD_READY_SECONDS = 60.0


# ---- header -------------------------------------------------------------------------------


def render_header(
    snapshot: Snapshot,
    width: int,
    clock: datetime,
    waiting: float,
    glyphs: Glyphs,
    retry_interval: float | None = None,
) -> RenderableType:
    top = Table.grid(expand=True, padding=(0, 1))
    top.add_column(ratio=1, no_wrap=True, overflow=glyphs.overflow)  # type: ignore[arg-type]
    top.add_column(justify="right", no_wrap=True)
    title = Text.assemble(
        ("threadmill top", "bold"),
        glyphs.sep,
        ("backend ", "dim"),
        (snapshot.alias, "bold cyan"),
        glyphs.sep,
        (snapshot.url, "cyan"),
    )
    top.add_row(title, Text(clock.strftime("%H:%M:%S"), style="bold"))
    lines: list[RenderableType] = [top]
    server = snapshot.server
    if server is not None:
        persistence_style = "red" if server.persistence == "off" else ""
        memory = fmt_bytes(server.used_memory)
        if server.maxmemory:
            memory += f" of {fmt_bytes(server.maxmemory)}"
        workers = sum(len(p.workers) for p in snapshot.pools)
        threads = sum(len(w.threads) for p in snapshot.pools for w in p.workers)
        busy = sum(w.busy for p in snapshot.pools for w in p.workers)
        parts = [
            Text.assemble(("Redis ", "dim"), server.version),
            Text.assemble(("memory ", "dim"), memory),
            Text.assemble(("persistence ", "dim"), (server.persistence, persistence_style)),
            Text(f"{len(snapshot.pools)} pool{'s' if len(snapshot.pools) != 1 else ''}"),
            Text(f"{workers} worker{'s' if workers != 1 else ''}"),
            Text(f"{busy}/{threads} threads busy"),
        ]
        lines.append(Text(glyphs.sep).join(parts))
        for warning in server.warnings:
            lines.append(Text(f"! {warning}", style="yellow"))
    if not snapshot.reachable:
        since = snapshot.down_since.strftime("%H:%M:%S") if snapshot.down_since else "?"
        down_for = (clock - snapshot.down_since).total_seconds() if snapshot.down_since else None
        retrying = f", retrying every {retry_interval:g}s" if retry_interval else ""
        message = Text.assemble(
            ("Redis down", "bold white on red"),
            (f" since {since} ({fmt_duration(down_for)}){retrying}: ", "red"),
            (snapshot.error, "red"),
        )
        if snapshot.server is not None:
            message.append(" The figures below are from the last good read.", style="dim")
        lines.append(message)
    elif waiting > 0:
        lines.append(
            Text(
                f"Waiting for Redis: no answer for {fmt_duration(waiting)}; the figures "
                "below are from the last read.",
                style="bold yellow",
            )
        )
    elif server is None:
        lines.append(Text(f"Connecting to Redis{glyphs.more}", style="dim"))
    return Group(*lines)


# ---- queues -------------------------------------------------------------------------------

QUEUE_COLUMNS = [  # least=16: a name and its "(no pool)" mark before a minor column
    Column("Queue", 0, "left", squeeze=24, least=16),
    Column("Ready", 1),
    Column("Deferred", 7),
    Column("Retrying", 10),
    Column("Running", 2),
    Column("OK/min", 6),
    Column("Failed/min", 3),
    Column("Retries/min", 9),
    Column("In/s", 5),
    Column("Out/s", 4),
    Column("Oldest ready", 8),
]


def _queue_row(q: QueueView, served: bool) -> list[Cell]:
    name = Text(q.name, style="bold")
    if q.paused:
        name.append(" PAUSED", style="bold black on yellow")
    elif not served and (q.ready or q.running):
        name.append(" (no pool)", style="red")
    oldest = Text(fmt_duration(q.oldest_ready_seconds))
    if q.oldest_ready_seconds is not None and q.oldest_ready_seconds >= OLD_READY_SECONDS:
        oldest.stylize("yellow")
    failed = Text(fmt_count(q.failed_last_minute), style="red" if q.failed_last_minute else "")
    retries = Text(fmt_rate(q.retries_per_minute), style="yellow" if q.retries_per_minute else "")
    return [
        name,
        fmt_count(q.ready),
        fmt_count(q.deferred),
        fmt_count(q.retrying),
        fmt_count(q.running),
        fmt_count(q.successful_last_minute),
        failed,
        retries,
        fmt_rate(q.in_per_second),
        fmt_rate(q.out_per_second),
        oldest,
    ]


def render_queues(snapshot: Snapshot, width: int, glyphs: Glyphs = UNICODE) -> RenderableType:
    live_pools = [p for p in snapshot.pools if not p.stale]
    served = {q for p in live_pools for q in p.queues}
    rows = [_queue_row(q, q.name in served) for q in snapshot.queues]
    queues = snapshot.queues
    if len(queues) > 1:
        ages = [q.oldest_ready_seconds for q in queues if q.oldest_ready_seconds is not None]
        total = QueueView(
            name="all",
            ready=sum(q.ready for q in queues),
            deferred=sum(q.deferred for q in queues),
            running=sum(q.running for q in queues),
            successful=sum(q.successful for q in queues),
            failed=sum(q.failed for q in queues),
            successful_last_minute=sum(q.successful_last_minute for q in queues),
            failed_last_minute=sum(q.failed_last_minute for q in queues),
            in_per_second=sum_rate([q.in_per_second for q in queues]),
            out_per_second=sum_rate([q.out_per_second for q in queues]),
            oldest_ready_seconds=max(ages) if ages else None,
            enqueued_total=sum(q.enqueued_total for q in queues),
            successful_total=sum(q.successful_total for q in queues),
            failed_total=sum(q.failed_total for q in queues),
            retrying=sum(q.retrying for q in queues),
            retried_total=sum(q.retried_total for q in queues),
            retries_per_minute=sum_rate([q.retries_per_minute for q in queues]),
        )
        total_row = _queue_row(total, True)
        total_row[0] = Text("all", style="bold")
        rows.append([Text(c, style="dim") if isinstance(c, str) else c for c in total_row])
    return fit_table("Queues", QUEUE_COLUMNS, rows, width, glyphs)


# ---- pools and workers --------------------------------------------------------------------

WORKER_COLUMNS = [
    Column("Process", 0, "left", squeeze=24, least=15),
    Column("Uptime", 7),
    Column("Threads", 3),
    Column("Task", 1, "left", squeeze=40, least=10, shorten=short_path),
    Column("Runtime", 2),
    Column("Done", 6),
    Column("Failed", 5),
    Column("RSS", 8),
    Column("Heartbeat", 4),
]


def _runtime(seconds: float | None, lease_ttl: float) -> Text:
    text = Text(fmt_duration(seconds) if seconds is not None else "")
    if seconds is not None and seconds >= lease_ttl / 2:
        text.stylize("bold red")
    elif seconds is not None and seconds >= LONG_TASK_SECONDS:
        text.stylize("yellow")
    return text


def _heartbeat(pool: PoolView, interval: float) -> Text:
    age = fmt_duration(pool.heartbeat_age_seconds)
    if pool.stale:
        return Text(f"STALE {age}", style="bold white on red")
    late = pool.heartbeat_age_seconds is not None and pool.heartbeat_age_seconds > interval * 1.5
    return Text(age, style="yellow" if late else "")


def worker_rows(
    snapshot: Snapshot, width: int, glyphs: Glyphs, *, fold_idle: bool = False
) -> list[list[Cell]]:
    """The tree as table rows: master, its worker processes, their threads."""
    rows: list[list[Cell]] = []
    lease_ttl = snapshot.lease_ttl_seconds
    for pool in snapshot.pools:
        busy = sum(w.busy for w in pool.workers)
        threads = sum(len(w.threads) for w in pool.workers)
        name = Text(f"{pool.host}:{pool.pid}", style="bold")
        if pool.stale:  # first, so that it survives a narrow column
            name.append(" STALE", style="bold white on red")
        name.append(" master", style="dim")
        if pool.stopping:
            name.append(" stopping", style="yellow")
        elif pool.quiet:
            name.append(" quiet", style="yellow")
        counters = Text.assemble(  # crashes first: what survives a narrow column
            ("crashes ", "dim"),
            (str(pool.crashes), "bold red" if pool.crashes else ""),
            glyphs.sep,
            ("restarts ", "dim"),
            (str(pool.restarts), "yellow" if pool.restarts else ""),
        )
        failed = sum(w.failed for w in pool.workers)
        row: list[Cell] = [
            name,
            fmt_duration(pool.uptime_seconds),
            f"{busy}/{threads}",
            counters,
            "",
            fmt_count(sum(w.processed for w in pool.workers)),
            Text(fmt_count(failed), style="red" if failed else ""),
            fmt_bytes(pool.rss_bytes),
            _heartbeat(pool, snapshot.heartbeat_interval_seconds),
        ]
        if pool.stale:
            row = [Text(c, style="red") if isinstance(c, str) else c for c in row]
        rows.append(row)
        if not pool.workers:
            rows.append([Text(f"{glyphs.last}no worker process", style="dim")] + [""] * 8)
        for w_index, worker in enumerate(pool.workers):
            last_worker = w_index == len(pool.workers) - 1
            rows.append(
                [
                    Text(glyphs.last if last_worker else glyphs.branch, style="dim")
                    + Text(f"pid {worker.pid}"),
                    fmt_duration(worker.uptime_seconds),
                    f"{worker.busy}/{len(worker.threads)}",
                    "",
                    "",
                    fmt_count(worker.processed),
                    Text(fmt_count(worker.failed), style="red" if worker.failed else ""),
                    fmt_bytes(worker.rss_bytes),
                    "",
                ]
            )
            stem = glyphs.space if last_worker else glyphs.pipe
            shown = worker.threads
            idle = [t for t in worker.threads if not t.task_id]
            if fold_idle and len(idle) > 1:
                shown = [t for t in worker.threads if t.task_id]
            for t_index, thread in enumerate(shown):
                folded_after = fold_idle and len(idle) > 1
                last = t_index == len(shown) - 1 and not folded_after
                prefix = Text(stem + (glyphs.last if last else glyphs.branch), style="dim")
                if thread.task_id:
                    task = Text(task_label(thread.task_path, width) or thread.task_id)
                else:
                    task = Text("idle", style="dim")
                rows.append(
                    [
                        prefix + Text(f"thread {thread.index}", style="dim"),
                        "",
                        "",
                        task,
                        _runtime(thread.running_seconds, lease_ttl),
                        "",
                        "",
                        "",
                        "",
                    ]
                )
            if fold_idle and len(idle) > 1:
                rows.append(
                    [
                        Text(stem + glyphs.last, style="dim")
                        + Text(f"{len(idle)} idle threads", style="dim"),
                        *[""] * 8,
                    ]
                )
    return rows


def render_workers(
    snapshot: Snapshot, width: int, glyphs: Glyphs, max_rows: int | None = None
) -> RenderableType:
    rows = worker_rows(snapshot, width, glyphs)
    if max_rows is not None and len(rows) > max_rows:
        rows = worker_rows(snapshot, width, glyphs, fold_idle=True)
    if max_rows is not None and len(rows) > max_rows:
        hidden = len(rows) - max(1, max_rows - 1)
        rows = rows[: max(1, max_rows - 1)]
        rows.append([Text(f"{glyphs.more} {hidden} more rows", "dim")])
        rows[-1] += [""] * 8
    if not snapshot.pools:
        rows = [
            [
                Text("no pool is running (start one with manage.py threadmill)", style="yellow"),
                *[""] * 8,
            ]
        ]
    return fit_table("Workers", WORKER_COLUMNS, rows, width, glyphs)
