"""threadmill_top's per-task view: `t` switches the live screen to one row per task path
(runs, failure rate, run-time percentiles) and back; `--json` carries the same rows; the
panel fits a narrow terminal."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from rich.console import Console

from tests import tasks
from tests.admin_helpers import fail_next, succeed_next
from tests.test_top_live import Terminal, terminal  # noqa: F401 - the fixture
from threadmill.top.render import render_screen
from threadmill.top.snapshot import Sampler

pytestmark = pytest.mark.django_db


def runs(backend) -> None:
    for n in range(3):
        tasks.add.enqueue(n, 1)
        succeed_next(backend)
    tasks.fail.enqueue()
    fail_next(backend)


def test_json_carries_the_per_task_rows(backend):
    runs(backend)
    out = io.StringIO()
    call_command("threadmill_top", "--json", "--interval", "0.05", stdout=out)
    data = json.loads(out.getvalue())
    rows = {t["path"]: t for t in data["tasks"]}
    assert rows["tests.tasks.add"]["runs"] == 3
    assert rows["tests.tasks.add"]["failure_rate"] == 0
    assert rows["tests.tasks.fail"]["failed"] == 1
    assert rows["tests.tasks.fail"]["last_error_class"] == "builtins.ValueError"
    assert rows["tests.tasks.add"]["p95_ms"] is not None
    assert data["task_span_seconds"] == 3600


def test_the_tasks_view_renders_rows_and_fits_the_width(backend):
    runs(backend)
    sampler = Sampler(backend)
    sampler.with_tasks = True
    snapshot = sampler.sample()
    console = Console(file=io.StringIO(), width=60, highlight=False, color_system=None)
    console.print(render_screen(snapshot, 60, 30, view="tasks"))
    text = console.file.getvalue()
    assert "Tasks, last 1h00m" in text
    assert "add" in text  # short task names below 80 columns
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 60
    overview = Sampler(backend).sample()
    assert overview.tasks is None  # not read unless asked for


def test_t_switches_the_live_screen_to_tasks_and_back(redis_server, backend, terminal):  # noqa: F811
    runs(backend)
    term: Terminal = terminal(redis_server.url, "--interval", "0.3")
    term.wait_frame(lambda text: "Queue" in text)
    since = term.mark()
    term.child.send("t")
    frame = term.wait_frame(lambda text: "tests.tasks.add" in text and "Fail %" in text, since)
    assert "Tasks, last 1h00m" in frame
    since = term.mark()
    term.child.send("t")
    term.wait_frame(lambda text: "Recent failures" in text and "Fail %" not in text, since)
    term.child.send("q")
    code, _ = term.finish()
    assert code == 0
