"""The dashboard's drawing: pure functions of a snapshot, rendered on a capture console."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from tests.top_samples import NOW, busy_snapshot, down_snapshot, many_workers_snapshot
from threadmill.top.layout import UNICODE, fmt_bytes, fmt_duration, fmt_rate, sparkline
from threadmill.top.panels import _queue_row, worker_rows
from threadmill.top.render import render_screen
from threadmill.top.views import ServerView, Snapshot


def draw(
    snapshot: Snapshot, width: int, height: int | None = None, encoding="utf-8", **kwargs
) -> str:
    file = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    console = Console(file=file, record=True, width=width, force_terminal=False, color_system=None)
    kwargs.setdefault("ascii_only", console.options.ascii_only)
    console.print(render_screen(snapshot, width, height, **kwargs))
    return console.export_text()


def test_a_wide_screen_shows_every_panel():
    text = draw(busy_snapshot(), 140)
    # header
    for piece in (
        "backend default",
        "redis://:***@10.0.0.5:6379/0",
        "Redis 7.0.15",
        "memory 3.2M",
        "persistence AOF everysec",
        "2 pools",
        "3 workers",
        "4/5 threads busy",
        NOW.strftime("%H:%M:%S"),
    ):
        assert piece in text, piece
    # queues, with a total row
    lines = text.splitlines()
    default = next(line for line in lines if line.startswith("default "))
    header = next(line for line in lines if line.startswith("Queue "))
    assert header.split() == [
        "Queue",
        "Ready",
        "Deferred",
        "Retrying",
        "Running",
        "OK/min",
        "Failed/min",
        "Retries/min",
        "In/s",
        "Out/s",
        "Oldest",
        "ready",
    ]
    assert default.split() == [
        "default",
        "1,234",
        "3",
        "2",
        "3",
        "310",
        "2",
        "1.5",
        "5.2",
        "5.0",
        "1m15s",
    ]
    total = next(line for line in lines if line.startswith("all ")).split()
    assert (total[1], total[3], total[7]) == ("1,241", "2", "1.5")
    # the tree: master, worker processes, threads and their tasks
    for piece in (
        "web1:100 master",
        "├─ pid 101",
        "│  ├─ thread 0",
        "shop.tasks.send_invoice",
        "1m35s",
        "└─ pid 102",
        "   └─ thread 1",
        "idle",
        "crashes 1 · restarts 1",
        "web2:200 STALE master",
        "STALE 14s",
        "33m20s",
    ):
        assert piece in text, piece
    # failures, throughput
    assert "shop.tasks.charge_card" in text
    assert "CardDeclined" in text
    assert "WorkerLost" in text
    assert "12s ago" in text
    assert "Throughput" in text
    assert any(bar in text for bar in "▂▃▄▅▆▇█")


@pytest.mark.parametrize("width", [20, 30, 40, 60, 80, 100, 200])
@pytest.mark.parametrize(
    "snapshot",
    [busy_snapshot(), down_snapshot(), many_workers_snapshot(), Snapshot("x", "y", NOW, True)],
    ids=["busy", "down", "many", "empty"],
)
def test_any_width_renders_within_it(snapshot, width):
    text = draw(snapshot, width)
    assert text.strip()
    assert max(cell_len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("width", [40, 60])
def test_narrow_screens_keep_what_matters_most(width):
    text = draw(busy_snapshot(), width)
    lines = text.splitlines()
    queue_header = next(line for line in lines if line.startswith("Queue "))
    assert queue_header.split()[:3] == ["Queue", "Ready", "Running"]
    assert "Deferred" not in queue_header
    assert "Oldest ready" not in queue_header
    workers_header = next(line for line in lines if line.startswith("Process ")).split()
    assert workers_header[0] == "Process"
    assert {"Task", "Runtime"} <= set(workers_header)
    assert "Uptime" not in workers_header
    assert "STALE" in text  # a stale pool still stands out
    assert "send_invoice" in text  # tasks by function name
    assert "33m20s" in text


def test_retries_give_way_to_queue_names_and_stand_out():
    snapshot = busy_snapshot()
    text = draw(snapshot, 120)  # the width of --once in a pipe
    header = next(line for line in text.splitlines() if line.startswith("Queue "))
    assert "Retries/min" in header
    assert "Retrying" not in header  # the least important column goes first
    assert "reports (no pool)" in text  # a queue's name is not cut for a minor column
    assert "Retrying" in draw(snapshot, 130)
    [default] = [row for row in _queue_cells(snapshot) if str(row[0]) == "default"]
    assert styles(default[7]) == "yellow"  # retries in the last minute
    [emails] = [row for row in _queue_cells(snapshot) if str(row[0]) == "emails"]
    assert styles(emails[7]) == ""


def _queue_cells(snapshot: Snapshot) -> list[list]:
    return [_queue_row(q, True) for q in snapshot.queues]


def styles(text: Text) -> str:
    return " ".join([str(text.style), *(str(span.style) for span in text.spans)]).strip()


def test_highlights_stuck_tasks_and_stale_pools():
    rows = worker_rows(busy_snapshot(), 140, UNICODE)
    by_task = {str(r[3]): r[4] for r in rows if isinstance(r[3], Text) and str(r[3])}
    assert styles(by_task["shop.tasks.sync_stock"]) == "bold red"  # past half its lease_ttl
    assert styles(by_task["shop.tasks.resize_image"]) == "yellow"  # a long run
    assert styles(by_task["shop.tasks.send_invoice"]) == ""
    stale = next(r for r in rows if str(r[0]).startswith("web2:200"))
    assert "red" in styles(stale[8])
    fresh = next(r for r in rows if str(r[0]).startswith("web1:100"))
    assert styles(fresh[8]) == ""


def test_a_short_terminal_folds_idle_threads_then_cuts_rows():
    snapshot = many_workers_snapshot(processes=8, threads=4)  # 41 rows of tree unfolded
    tall = draw(snapshot, 120)
    assert tall.count("idle") == 24
    folded = draw(snapshot, 120, height=45)
    assert "3 idle threads" in folded
    assert len(folded.splitlines()) <= 45
    cut = draw(snapshot, 120, height=30)
    assert "20 more rows" in cut
    assert len(cut.splitlines()) <= 30
    tiny = draw(snapshot, 40, height=12)  # never raises; the failures fold to one line
    assert "Recent failures 2, newest: charge_card" in tiny


def test_redis_down_keeps_the_last_figures_and_says_so():
    text = " ".join(draw(down_snapshot(), 120, clock=NOW, retry_interval=1.0).split())
    assert "Redis down since" in text
    assert "(8.0s), retrying every 1s" in text
    assert "Connection refused" in text
    assert "from the last good read" in text
    assert "web1:100 master" in text


def test_redis_down_before_any_read_shows_no_made_up_tables():
    never = Snapshot("default", "redis://h/0", NOW, False, error="refused", down_since=NOW)
    text = draw(never, 80)
    assert "Redis down since" in text
    assert "refused" in text
    assert "Queues" not in text
    assert "no pool" not in text
    assert "Connecting to Redis" in draw(Snapshot("default", "redis://h/0", NOW, True), 80)


def test_waiting_for_a_silent_redis_is_shown():
    text = draw(busy_snapshot(), 120, waiting=7.5)
    assert "Waiting for Redis: no answer for 7.5s" in text


def test_server_warnings_are_shown():
    server = ServerView("7.2.4", 1, 0, "allkeys-lru", "off", ["Persistence is off", "evicts"])
    text = draw(replace(busy_snapshot(), server=server), 120)
    assert "! Persistence is off" in text
    assert "persistence off" in text


@pytest.mark.parametrize("width", [30, 60, 140])
def test_a_terminal_that_only_takes_ascii_gets_ascii(width):
    for snapshot in (busy_snapshot(), down_snapshot(), many_workers_snapshot()):
        for height in (None, 20):
            text = draw(snapshot, width, height, encoding="ascii")  # raises on anything else
            text.encode("ascii")
        assert "|- pid" in draw(snapshot, width, encoding="ascii")


def test_a_queue_nobody_serves_is_flagged():
    snapshot = busy_snapshot()  # "reports" has ready tasks; no live pool listens to it
    assert "reports (no pool)" in draw(snapshot, 140)
    assert "default (no pool)" not in draw(snapshot, 140)


def test_formats():
    assert [fmt_duration(s) for s in (None, 0.42, 12, 184, 7500, 270000)] == [
        "-",
        "0.4s",
        "12s",
        "3m04s",
        "2h05m",
        "3d03h",
    ]
    assert [fmt_bytes(n) for n in (0, 512, 2048, 12 * 2**20, int(1.5 * 2**30))] == [
        "-",
        "512B",
        "2.0K",
        "12M",
        "1.5G",
    ]
    assert [fmt_rate(r) for r in (None, 0, 0.42, 12.4, 1500)] == ["-", "0", "0.4", "12", "1.5k"]


def test_sparkline_scales_to_the_peak_and_marks_missing_data():
    line = sparkline([None, 0, 1, 2, 4], UNICODE)
    assert line.plain == "·▁▄▅█"


def test_snapshot_to_dict_is_plain_json():
    snapshot = busy_snapshot()
    data = json.loads(json.dumps(snapshot.to_dict()))
    assert data["queues"][0]["name"] == "default"
    assert data["pools"][0]["workers"][0]["threads"][1]["task_path"] == "shop.tasks.resize_image"
    assert data["failures"][0]["finished_at"] == (NOW - timedelta(seconds=12)).isoformat()
    assert data["taken_at"] == NOW.isoformat()


def test_a_paused_queue_and_a_quiet_pool_are_marked_and_in_the_json():
    snapshot = busy_snapshot()
    queues = [replace(q, paused=q.name == "reports") for q in snapshot.queues]
    pools = [replace(p, quiet=p.host == "web1") for p in snapshot.pools]
    marked = replace(snapshot, queues=queues, pools=pools)
    screen = draw(marked, 140)
    assert "reports PAUSED" in screen
    assert "reports (no pool)" not in screen  # paused says why nothing is taken
    assert "default PAUSED" not in screen
    [row] = [r for r in worker_rows(marked, 140, UNICODE) if str(r[0]).startswith("web1:100")]
    assert "quiet" in str(row[0])
    data = json.loads(json.dumps(marked.to_dict()))
    assert {q["name"]: q["paused"] for q in data["queues"]}["reports"] is True
    assert {p["host"]: p["quiet"] for p in data["pools"]} == {"web1": True, "web2": False}
