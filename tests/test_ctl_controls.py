"""`manage.py threadmill_ctl pause / resume / run-now / pool`: what each prints, exit codes
and errors (unknown queue, pool or id; Redis down), through call_command and as a
process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from tests import tasks
from tests.reports import pool_report
from tests.test_ctl_command import ctl, outcomes, run_ctl


def test_pause_and_resume_queues(backend):
    code, out, _ = ctl("pause", "default", "low")
    assert code == 0
    assert out.splitlines() == ["default  paused", "low  paused"]
    assert backend.paused_queues() == ["default", "low"]
    code, out, _ = ctl("pause", "default")
    assert (code, out.strip()) == (0, "default  paused (it was already)")
    tasks.noop.enqueue()
    assert backend.park("w1", ["default"], "t1", "w1/0") is None  # paused: parks
    code, out, _ = ctl("resume", "default", "high")
    assert code == 0
    assert out.splitlines() == [
        "default  resumed (1 task(s) handed to waiting threads at once)",
        "high  not paused (nothing to resume)",
    ]
    assert backend.paused_queues() == ["low"]
    assert backend.wait_for_lease("w1/0", 1) is not None


def test_an_unknown_queue_is_refused_with_exit_1_and_the_others_are_paused(backend):
    code, out, err = ctl("pause", "defualt", "high")
    assert code == 1
    assert out.strip() == "high  paused"
    assert (
        "Unknown queue 'defualt' on backend 'default': known queues are default, high, low" in err
    )
    assert backend.paused_queues() == ["high"]


def test_run_now_moves_deferred_tasks_and_refuses_the_others(backend):
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    ready = tasks.noop.enqueue().id
    code, out, err = ctl("run-now", later)
    assert (code, outcomes(out)) == (0, {later: "moved"})
    assert err.strip() == "1 moved."
    code, out, err = ctl("run-now", later, ready, "nope")
    assert code == 1
    assert outcomes(out) == {later: "refused", ready: "refused", "nope": "missing"}
    assert "READY, not deferred" in out
    assert err.strip() == "2 refused, 1 missing."
    with pytest.raises(CommandError, match="No task id given") as e:
        ctl("run-now", " ")
    assert e.value.returncode == 2


def test_pool_requests_list_and_an_unknown_pool(backend):
    code, _, err = ctl("pool", "list")
    assert (code, err.strip()) == (0, "No live pools on this backend.")
    backend.heartbeat("host.1.ab", ["host.1.ab.1"], pool_report({"host": "host", "pid": 1}))
    code, out, _ = ctl("pool", "list")
    assert code == 0
    assert out.split()[:2] == ["host.1.ab", "running"]
    code, out, _ = ctl("pool", "quiet", "host.1.ab")
    assert code == 0
    assert "quiet requested" in out
    report = backend.maintain(["default"], pool_id="host.1.ab")
    assert report.pool_requests == ["quiet"]
    code, _, err = ctl("pool", "stop", "nope")
    assert code == 1
    assert "No live pool 'nope'" in err
    with pytest.raises(CommandError, match="needs a POOL_ID") as e:
        ctl("pool", "stop")
    assert e.value.returncode == 2
    with pytest.raises(CommandError, match="invalid choice: 'explode'"):
        ctl("pool", "explode", "host.1.ab")


def test_redis_down_is_a_command_error_for_each(make_backend):
    make_backend("redis://127.0.0.1:1/0", {"retry_attempts": 0})
    for args in (("pause", "default"), ("run-now", "x"), ("pool", "stop", "p")):
        with pytest.raises(CommandError, match="did not complete") as e:
            ctl(*args)
        assert e.value.returncode == 2


def test_exit_codes_as_a_shell_sees_them(backend, redis_server):
    assert run_ctl(redis_server.url, "pause", "default").returncode == 0
    assert run_ctl(redis_server.url, "pause", "nope").returncode == 1
    assert run_ctl(redis_server.url, "resume", "default").returncode == 0
    unknown = run_ctl(redis_server.url, "pool", "stop", "nope")
    assert unknown.returncode == 1
    assert "No live pool 'nope'" in unknown.stderr
    assert run_ctl(redis_server.url, "pause").returncode == 2
