"""The dashboard's "Next runs" panel: drawn from hand-made snapshots (order, paused mark,
"in 3m", problems, hidden without schedules, any size), read from a real Redis (the views,
the cost per frame) and through `threadmill_top --once / --json`."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from rich.cells import cell_len

from tests.test_ctl_schedules import SCHEDULES, fire
from tests.test_top_render import draw
from tests.test_top_snapshot import RoundTrips
from tests.top_samples import NOW, busy_snapshot, many_workers_snapshot, scheduled_snapshot
from threadmill.top.snapshot import Sampler


def panel(text: str) -> list[str]:
    """The panel's lines, from its title to the next blank line."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("Next runs")))
    end = lines.index("", start)
    return lines[start:end]


def test_the_soonest_runs_in_local_time_with_paused_marked_and_problems_named():
    lines = panel(draw(scheduled_snapshot(), 140))
    assert lines[1].split() == ["Schedule", "When", "In", "Task", "Last", "run"]
    rows = [line.split() for line in lines[3:8]]
    local = NOW.astimezone()

    def at(seconds: float) -> str:
        return (local + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    assert rows[0] == ["due", at(0), "due", "shop.tasks.due", "-"]
    assert rows[1] == ["cleanup", "paused", at(40), "in", "40s", "shop.tasks.cleanup"] + [
        "FAILED",
        "30s",
        "ago",
    ]
    assert rows[2] == ["sync", at(184), "in", "3m04s", "shop.tasks.sync", "SUCCESSFUL"] + [
        "2m00s",
        "ago",
    ]
    assert rows[3] == ["hourly", at(1800), "in", "30m00s", "shop.tasks.hourly", "-"]
    later = (local + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")  # another day: dated
    assert rows[4] == ["nightly-report", *later.split(), "in", "9h00m"] + [
        "shop.tasks.nightly_report",
        "-",
    ]
    assert lines[8].strip() == "… 1 more (manage.py threadmill_ctl schedules)"  # weekly
    assert lines[9] == "! not run, their entry has a problem (manage.py check): broken, bad-cron"


def test_no_schedules_no_panel():
    assert "Next runs" not in draw(busy_snapshot(), 140)
    only_broken = replace(scheduled_snapshot(), schedules=scheduled_snapshot().schedules[3:5])
    lines = panel(draw(only_broken, 140))
    assert lines[0].startswith("Next runs none")
    assert "broken, bad-cron" in lines[1]


@pytest.mark.parametrize("width", [20, 40, 80, 120])
def test_any_size_renders_within_it(width):
    text = draw(scheduled_snapshot(), width)
    assert max(cell_len(line) for line in text.splitlines()) <= width
    assert "Next runs" in text


def test_a_short_terminal_shrinks_the_panel_to_one_line():
    tall = replace(many_workers_snapshot(8, 4), schedules=scheduled_snapshot().schedules)
    roomy = draw(tall, 80, height=50)
    assert len(roomy.splitlines()) <= 50
    assert "in 9h00m" in roomy  # five rows
    assert "├─ pid 1001" in roomy  # and the tree still has room
    fewer = draw(tall, 80, height=34)  # failures in one line, three runs
    assert len(fewer.splitlines()) <= 34
    assert "Recent failures 2, newest" in fewer
    assert "in 3m04s" in fewer
    assert "in 9h00m" not in fewer
    assert "… 3 more (manage.py threadmill_ctl schedules)" in fewer
    short = draw(tall, 80, height=30)
    assert len(short.splitlines()) <= 30
    [line] = [line for line in short.splitlines() if line.startswith("Next runs")]
    assert line.startswith("Next runs due due · cleanup in 40s paused · sync in 3m04s")


def test_the_json_has_the_schedules():
    data = json.loads(json.dumps(scheduled_snapshot().to_dict()))
    sync = next(s for s in data["schedules"] if s["name"] == "sync")
    assert sync["next_slot"] == (NOW + timedelta(seconds=184)).isoformat()
    assert (sync["task"], sync["paused"], sync["due_in_seconds"]) == ("shop.tasks.sync", False, 184)
    assert sync["last_run"] == {
        "slot": (NOW - timedelta(seconds=120)).isoformat(),
        "task_id": "t9",
        "how": "slot",
        "status": "SUCCESSFUL",
    }
    bad = next(s for s in data["schedules"] if s["name"] == "bad-cron")
    assert (bad["next_slot"], bad["problem"], bad["last_run"]) == (None, "threadmill.E021", None)


# ---- from a real Redis --------------------------------------------------------------------


@pytest.fixture
def scheduled(make_backend, redis_server):
    return make_backend(redis_server.url, {"schedules": SCHEDULES})


def test_the_sampler_reads_the_schedules_on_redis_time_for_two_round_trips(scheduled, monkeypatch):
    task_id = fire(scheduled, "sync")
    scheduled.pause_schedule("nightly", True)
    sampler = Sampler(scheduled)
    sampler.sample()  # warm
    trips = RoundTrips(monkeypatch)
    snapshot = sampler.sample()
    monkeypatch.undo()
    assert trips.count == 4  # the overview's two, the schedules' two
    views = {s.name: s for s in snapshot.schedules}
    assert list(views) == ["nightly", "sync", "broken", "bad"]
    sync = views["sync"]
    assert sync.next_slot == snapshot.redis_time.replace(second=0, microsecond=0).astimezone(
        UTC
    ) + timedelta(minutes=1)
    assert sync.due_in_seconds == pytest.approx(
        (sync.next_slot - snapshot.redis_time).total_seconds(), abs=0.01
    )
    assert 0 < sync.due_in_seconds <= 60
    assert (sync.last_run.task_id, sync.last_run.status) == (task_id, "READY")
    assert views["nightly"].paused
    assert (views["broken"].problem, views["bad"].problem) == ("threadmill.E023", "threadmill.E021")
    assert views["bad"].next_slot is None


def test_without_schedules_a_frame_costs_what_it_did(backend, monkeypatch):
    sampler = Sampler(backend)
    sampler.sample()
    trips = RoundTrips(monkeypatch)
    snapshot = sampler.sample()
    monkeypatch.undo()
    assert (trips.count, snapshot.schedules) == (2, [])


def test_once_and_json_show_the_next_runs(scheduled):
    fire(scheduled, "sync")
    out = io.StringIO()
    call_command("threadmill_top", "--once", "--interval", "0.05", stdout=out)
    lines = panel(out.getvalue())
    assert [line.split()[0] for line in lines[3:5]] == ["sync", "nightly"]
    assert "READY" in lines[3]
    assert "broken, bad" in lines[5]
    out = io.StringIO()
    call_command("threadmill_top", "--json", "--interval", "0.05", stdout=out)
    data = json.loads(out.getvalue())
    names = [s["name"] for s in data["schedules"]]
    assert names == ["nightly", "sync", "broken", "bad"]
    sync = data["schedules"][1]
    assert datetime.fromisoformat(sync["next_slot"]).utcoffset() == timedelta(0)
    assert sync["last_run"]["status"] == "READY"
