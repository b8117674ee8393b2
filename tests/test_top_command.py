"""`manage.py threadmill_top --once / --json` against a real pool, and its errors."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from tests import tasks
from tests.conftest import tasks_setting
from tests.pool_helpers import ROOT, Pool, wait_until

ESCAPE = "\x1b"


@pytest.fixture
def pool(redis_server, tmp_path):
    started: list[Pool] = []

    def start(*args, options=None):
        p = Pool(redis_server.url, *args, options=options, log_dir=tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def top(url: str, *args: str, options: dict | None = None) -> subprocess.CompletedProcess:
    """The command as a process whose stdout is a pipe (as in a script or CI)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "THREADMILL_TEST_REDIS_URL": url,
        "THREADMILL_TEST_OPTIONS": json.dumps(options or {}),
        "TERM": "xterm-256color",  # a colour terminal type must not matter off a terminal
    }
    for name in ("FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "django", "threadmill_top", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def row(text: str, first: str) -> list[str]:
    """The cells of the table row that starts with `first`."""
    for line in text.splitlines():
        if re.match(rf"{re.escape(first)}\s", line):
            return line.split()
    raise AssertionError(f"no row {first!r} in:\n{text}")


def test_once_and_json_show_the_queues_workers_and_running_tasks(pool, backend, redis_server):
    failing = tasks.fail.enqueue("boom")
    for i in range(2):
        tasks.nap.enqueue(120, i)
    p = pool("--processes", "2", "--threads", "1", options={"heartbeat_interval": 0.5})
    workers = p.wait_for_workers(2)

    def both_napping():
        running = backend.queue_stats(["default"])[0].running
        busy = [t.task_path for pl in backend.pools() for w in pl.report.workers for t in w.threads]
        return running == 2 and busy.count("tests.tasks.nap") == 2

    wait_until(both_napping, 30, message=lambda: f"both workers running a nap; log:\n{p.tail()}")
    assert backend.get_result(failing.id).status == "FAILED"
    # Stable from here: both workers are busy for two minutes.
    for _ in range(3):
        tasks.noop.enqueue()
    tasks.urgent.enqueue("x")
    later = timezone.now() + timedelta(hours=1)
    for _ in range(2):
        tasks.noop.using(queue_name="low", run_after=later).enqueue()

    once = top(redis_server.url, "--once")
    assert once.returncode == 0, once.stderr
    text = once.stdout
    assert ESCAPE not in text
    # queues: ready, deferred, retrying, running, retries per minute
    header = row(text, "Queue")
    assert header[1:5] == ["Ready", "Deferred", "Retrying", "Running"]

    def cells(queue: str) -> list[str]:
        found = dict(zip(header, row(text, queue), strict=False))
        return [found[c] for c in ("Ready", "Deferred", "Retrying", "Running", "Retries/min")]

    assert cells("default") == ["3", "0", "0", "2", "0"]
    assert cells("high") == ["1", "0", "0", "0", "0"]
    assert cells("low") == ["0", "2", "0", "0", "0"]
    # the tree: master, both worker processes, the task each thread runs
    assert f":{p.pid} master" in text
    for pid in workers:
        assert f"pid {pid}" in text
    assert text.count("tests.tasks.nap") == 2
    assert f"{redis_server.url}" in text
    assert "persistence AOF everysec" in text
    # the failure
    assert re.search(r"ago\s+default\s+tests\.tasks\.fail\s+ValueError", text), text

    as_json = top(redis_server.url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["reachable"] is True
    queues = {q["name"]: q for q in data["queues"]}
    counts = {n: [q["ready"], q["deferred"], q["running"]] for n, q in queues.items()}
    assert counts == {"default": [3, 0, 2], "high": [1, 0, 0], "low": [0, 2, 0]}
    # Two samples one interval apart: rates are measured (nothing moved meanwhile), not None.
    assert (queues["default"]["in_per_second"], queues["default"]["out_per_second"]) == (0, 0)
    retries = [queues["default"][k] for k in ("retrying", "retried_total", "retries_per_minute")]
    assert retries == [0, 0, 0]
    [pool_data] = data["pools"]
    assert pool_data["pid"] == p.pid
    assert sorted(w["pid"] for w in pool_data["workers"]) == sorted(workers)
    paths = [t["task_path"] for w in pool_data["workers"] for t in w["threads"]]
    assert paths == ["tests.tasks.nap", "tests.tasks.nap"]
    assert all(t["running_seconds"] >= 0 for w in pool_data["workers"] for t in w["threads"])
    assert data["failures"][0]["task_path"] == "tests.tasks.fail"
    assert data["failures"][0]["error_class"] == "builtins.ValueError"
    assert data["server"]["persistence"] == "AOF everysec"


def test_once_and_json_say_redis_is_down_and_exit_1(make_backend):
    make_backend("redis://127.0.0.1:1/0", {"retry_attempts": 0})
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("threadmill_top", "--once", stdout=out)
    assert exited.value.code == 1
    assert "Redis down" in out.getvalue()
    assert "did not answer" in out.getvalue()
    assert ESCAPE not in out.getvalue()
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("threadmill_top", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["reachable"] is False
    assert "did not answer" in data["error"]


def test_unknown_alias_says_which_are_valid():
    with pytest.raises(CommandError, match=r"Unknown backend alias 'nope'.*TASKS defines: default"):
        call_command("threadmill_top", "--backend", "nope", "--once")


def test_a_backend_that_is_not_threadmill_is_refused(redis_server):
    setting = tasks_setting(redis_server.url)
    setting["plain"] = {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    with (
        override_settings(TASKS=setting),
        pytest.raises(CommandError, match="not a Threadmill backend"),
    ):
        call_command("threadmill_top", "--backend", "plain", "--once")


def test_the_live_screen_needs_a_terminal():
    with pytest.raises(CommandError, match=r"not a terminal.*--once.*--json"):
        call_command("threadmill_top", stdout=io.StringIO())


def test_interval_must_be_positive():
    with pytest.raises(CommandError, match="above 0"):
        call_command("threadmill_top", "--interval", "0")
