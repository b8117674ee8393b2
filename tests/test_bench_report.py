"""bench.compare's arithmetic and outputs, on made-up rounds: medians, cells, the best
drain setting, the JSON data file; and every data file under bench/results/ is readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.compare import Failed
from bench.compare import results as data_file
from bench.compare.drivers import System
from bench.compare.measurements import store
from bench.compare.report import DASH, cell, drain_cell, markdown, memory_cell
from bench.compare.stats import best_drain_setting, figures, percentile, summarize

RESULTS_DIR = Path(__file__).resolve().parent.parent / "bench" / "results"

THREADMILL = {
    "versions": {"threadmill": "this repository"},
    "python": "3.13.0",
    "drain_settings": {"1x1": "1 process x 1 thread", "2x4": "2 processes x 4 threads"},
    "idle_setting": ["2x4", "2 processes x 4 threads"],
    "has_bulk": True,
    "uses_redis": True,
    "hiredis": None,
}


def plain(text: str) -> str:
    """The tables' en dashes as hyphens, for readable expectations."""
    return text.replace(DASH, "-")


def drain(rate: float, tasks: int = 10_000, partial: bool = False, **extra) -> dict:
    return {"rate": rate, "tasks": tasks, "partial": partial, "boot": 1.0, **extra}


@pytest.fixture
def run():
    """Three rounds of threadmill; the 2x4 drain's third round failed."""
    results: dict = {}
    system = System("threadmill", info=THREADMILL)
    for i, (one, four) in enumerate([(8_000, 14_000), (8_400, 15_000), (7_900, None)]):
        memory = {"master": 66.0 + i, "worker": 60.0, "children": 2}
        store(results, ("threadmill", "drain", "1x1"), drain(one, memory=memory), 1.0)
        value = drain(four) if four else Failed("worker exited with -9")
        store(results, ("threadmill", "drain", "2x4"), value, 1.0)
        store(results, ("threadmill", "enqueue"), {"rate": 14_000 + 100 * i, "n": 5_000}, 1.0)
        store(results, ("threadmill", "enqueue_many"), {"rate": 60_000.0, "n": 10_000}, 1.0)
        latency = {"p50": 0.7 + i / 10, "p95": 0.9, "p99": 1.2, "samples": [0.7] * 70}
        store(results, ("threadmill", "latency"), latency, 5.0)
        store(results, ("threadmill", "idle"), {"redis": 9.7}, 10.0)
    return system, results


def test_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 51.0  # round(0.5 * 99) = 50 -> the 51st value
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_a_summary_is_median_min_max_over_the_rounds():
    summary = summarize([3.0, 1.0, 2.0, 10.0], failed=1)
    assert (summary.median, summary.min, summary.max) == (2.5, 1.0, 10.0)
    assert (summary.runs, summary.failed) == (4, 1)
    assert summarize([]) is None


def test_cells_show_the_median_the_range_and_the_failures(run):
    _, results = run
    assert plain(cell(results, ("threadmill", "enqueue"), "rate")) == "14,100 (14,000-14,200)"
    assert plain(cell(results, ("threadmill", "latency"), "p50", 2)) == "0.80 (0.70-0.90)"
    assert plain(cell(results, ("threadmill", "drain", "2x4"), "rate")) == (
        "14,500 (14,000-15,000) [1 of 3 runs failed: worker exited with -9]"
    )
    assert cell(results, ("huey", "enqueue"), "rate") == "n/a"
    assert (
        plain(memory_cell(results, ("threadmill", "drain", "1x1"), "master")) == "67.0 (66.0-68.0)"
    )


def test_a_drain_cell_marks_capped_drains_and_tasks_left():
    results: dict = {}
    store(results, ("rq", "drain", "1x1"), drain(30.0, tasks=61, partial=True), 2.0)
    store(results, ("rq", "drain", "1x1"), drain(34.0, tasks=71, partial=True), 2.0)
    store(results, ("rq", "drain", "1x1"), drain(33.0, pending_after=4), 2.0)
    assert plain(drain_cell(results, ("rq", "drain", "1x1"))) == (
        "33 (30-34) †2 run(s) capped after ~66 tasks ⚠ 4 tasks still pending after the last stamp"
    )


def test_the_best_drain_setting_is_one_measured_in_every_round():
    system = System("huey", info={"drain_settings": {"1x1": "", "2x1": "", "1x2": ""}})
    results: dict = {}
    for rate in (2_700, 2_800, 2_900):
        store(results, ("huey", "drain", "1x1"), drain(rate), 1.0)
    for rate in (6_300, 6_500, 6_900):
        store(results, ("huey", "drain", "2x1"), drain(rate), 1.0)
    store(results, ("huey", "drain", "1x2"), drain(9_999), 1.0)  # the sweep round only
    assert best_drain_setting(results, system) == "2x1"


def test_the_markdown_tables(run):
    system, results = run
    meta = {
        "machine": {"cpu": "Test CPU", "cores": 2, "kernel": "6.1", "os": "Linux"},
        "python": "3.13.0",
        "redis": "7.0.15",
        "runs": 3,
        "command": "uv run python -m bench.compare",
        "wall_minutes": 5.8,
        "load": [0.5, 0.6, 0.7, 1.0, 1.1, 1.2],
    }
    table = plain(markdown([system], results, meta))
    assert (
        "| threadmill | this repository | 8,000 (7,900-8,400) "
        "| 14,500 (14,000-15,000) [1 of 3 runs failed: worker exited with -9]: "
        "2 processes x 4 threads | 14,100 (14,000-14,200) |"
    ) in table
    assert "| threadmill `enqueue_many` | | | | 60,000 (60,000-60,000) |" in table
    assert "| threadmill | 2x4 | 2 processes x 4 threads | 3 | 14,500 " in table


def test_the_data_file_has_the_run_and_every_round(run, tmp_path):
    system, results = run
    meta = {
        "date": "2026-11-29T10:15:00+00:00",
        "commit": {"sha": "86fccb6" + "0" * 33, "dirty": False},
        "machine": {"cpu": "Test CPU", "cores": 2, "kernel": "6.1", "os": "Linux"},
        "python": "3.13.0",
        "python_details": {"version": "3.13.0", "implementation": "CPython"},
        "redis": "7.0.15",
        "runs": 3,
        "command": "uv run python -m bench.compare",
        "wall_minutes": 5.8,
        "load": [0.5, 0.6, 0.7, 1.0, 1.1, 1.2],
        "config": {"runs": 3},
    }
    path = data_file.default_path(meta, quick=False)
    assert path.parent == RESULTS_DIR
    assert path.name == "2026-11-29T1015Z_86fccb6_py3.13.0.json"
    assert data_file.default_path(meta, quick=True).name.endswith("_quick.json")

    written = tmp_path / "run.json"
    data_file.write(written, data_file.payload([system], results, meta))
    data = json.loads(written.read_text())
    assert data["python"] == {"version": "3.13.0", "implementation": "CPython"}
    assert (data["machine"]["cpu"], data["machine"]["cores"]) == ("Test CPU", 2)
    assert data["commit"]["sha"].startswith("86fccb6")
    rounds = data["rounds"]["threadmill"]
    assert [r["rate"] for r in rounds["drain 1x1"]] == [8_000, 8_400, 7_900]
    assert rounds["drain 2x4"][2] == {"error": "worker exited with -9"}
    assert len(rounds["latency"][0]["samples"]) == 70
    medians = data["medians"]["threadmill"]
    assert medians["drain 1x1 (tasks/s)"]["median"] == 8_000
    assert medians["drain 2x4 (tasks/s)"]["failed"] == 1
    assert medians["drain, best setting"] == "2x4"
    assert medians["enqueue_many (tasks/s)"]["median"] == 60_000
    assert medians["latency p50 (ms)"]["median"] == pytest.approx(0.8)
    assert medians["latency samples"] == 210
    assert medians["RSS master after the 1x1 drain (MiB)"]["median"] == 67.0


def test_figures_leave_out_what_never_succeeded():
    system = System("celery", info={"drain_settings": {"1x1": "prefork"}, "uses_redis": True})
    results: dict = {}
    store(results, ("celery", "drain", "1x1"), Failed("boom"), 1.0)
    assert figures(results, system) == {}


@pytest.mark.parametrize("path", sorted(RESULTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_recorded_run_is_readable(path):
    data = json.loads(path.read_text())
    assert data["schema"] == data_file.SCHEMA
    for field in ("date", "source", "machine", "python", "commit"):
        assert field in data, field
    assert "medians" in data or "measurements" in data
    assert data["machine"]["cores"] >= 1
    assert data["python"]["version"].count(".") == 2
    if data["source"].startswith("transcribed"):
        assert data["source"] == "transcribed from docs/performance.md"
