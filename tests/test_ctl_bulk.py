"""`threadmill_ctl requeue|purge|cancel` by the admin's filters (dry run, confirmation,
--yes, a bulk job carried out by the command) and `requeue|purge` by id."""

from __future__ import annotations

import io
import re
import sys

import pytest
from django.core.management import CommandError, call_command

from tests import tasks
from tests.search_helpers import make_failed
from threadmill.backends.job_records import JobStatus
from threadmill.backends.records import TaskState


def ctl(*args: str):
    """call_command: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("threadmill_ctl", *args, stdout=out, stderr=err)
    except SystemExit as exited:
        return int(exited.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def states(backend, ids) -> set:
    return {backend.get_task(i).state for i in ids}


def test_a_dry_run_lists_the_matching_tasks_and_changes_nothing(backend):
    timeouts = make_failed(backend, 3, "myapp.errors.Timeout", "host-a", arg="acct-1")
    make_failed(backend, 2, "myapp.errors.Timeout", "host-b", arg="acct-1")
    make_failed(backend, 2, "builtins.KeyError", "host-a", arg="acct-1")
    code, out, err = ctl(
        "requeue",
        "--error",
        "Timeout",
        "--worker",
        "host-a",
        "--args-contains",
        "acct",
        "--dry-run",
    )
    assert code == 0
    assert {line.split()[0] for line in out.splitlines()} == set(timeouts)
    assert "Timeout" in out
    assert "Dry run: 3 failed tasks of queue 'default' where last error Timeout" in err
    assert backend.queue_stats(["default"])[0].failed == 7
    assert backend.jobs() == []


def test_yes_runs_a_bulk_job_to_the_end(backend):
    keys = make_failed(backend, 4, "builtins.KeyError")
    others = make_failed(backend, 2, "builtins.ValueError")
    code, out, err = ctl("requeue", "--queue", "default", "--error", "KeyError", "--yes")
    assert code == 0
    assert "Requeued 4, refused 0, of 6 examined (done)." in out
    assert re.search(r"Bulk job \w+ recorded: requeue every failed tasks", err)
    assert states(backend, keys) == {TaskState.READY}
    assert states(backend, others) == {TaskState.FAILED}
    [job] = backend.jobs()
    assert job.who.startswith("ctl:")
    assert job.status == JobStatus.DONE


def test_destructive_ones_ask_first(backend, monkeypatch):
    ids = make_failed(backend, 2)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda: "n")
    code, _, err = ctl("purge", "--state", "failed")
    assert code == 1
    assert "Purge every failed tasks of queue 'default'? [y/N] Nothing done." in err
    assert states(backend, ids) == {TaskState.FAILED}
    monkeypatch.setattr("builtins.input", lambda: "y")
    code, out, _ = ctl("purge", "--state", "failed")
    assert (code, out.strip()) == (0, "Purged 2, refused 0, of 2 examined (done).")
    assert backend.queue_stats(["default"])[0].failed == 0


def test_without_a_terminal_or_yes_it_refuses(backend, monkeypatch):
    make_failed(backend, 1)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(CommandError, match="Refusing without confirmation: add --yes") as e:
        ctl("requeue", "--state", "failed")
    assert e.value.returncode == 2
    assert backend.jobs() == []


def test_purge_and_cancel_by_id_ask_first_and_requeue_does_not(backend, monkeypatch):
    *ids, requeued = make_failed(backend, 3)
    ready = tasks.noop.enqueue().id
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    for action, task_id in (("purge", ids[0]), ("cancel", ready)):
        with pytest.raises(CommandError, match="Refusing without confirmation: add --yes") as e:
            ctl(action, task_id)
        assert e.value.returncode == 2
    assert states(backend, ids) == {TaskState.FAILED}
    assert backend.get_task(ready).state == TaskState.READY
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda: "n")
    code, out, err = ctl("cancel", "--terminate", ready)
    assert (code, out, err.strip()) == (1, "", "Terminate 1 task(s)? [y/N] Nothing done.")
    monkeypatch.setattr("builtins.input", lambda: "y")
    code, out, _ = ctl("purge", *ids)
    assert code == 0
    assert backend.get_task(ids[0]) is None
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert ctl("requeue", requeued)[0] == 0  # nothing lost: it runs again
    assert ctl("cancel", ready, "--no-input")[0] == 0  # Django's spelling of --yes


def test_a_dry_run_by_id_prints_what_each_would_get_and_changes_nothing(backend):
    [failed] = make_failed(backend, 1)
    running = tasks.noop.enqueue().id
    assert backend.acquire("w1", ["default"], "w1/1").task_id == running
    ready = tasks.noop.enqueue().id
    for action, expected, summary in (
        (
            "purge",
            {failed: "purged", ready: "purged", running: "refused", "nope": "missing"},
            "2 purged, 1 refused, 1 missing",
        ),
        (
            "cancel",
            {failed: "refused", ready: "cancelled", running: "requested", "nope": "missing"},
            "1 cancelled, 1 requested, 1 refused, 1 missing",
        ),
        (
            "requeue",
            {failed: "requeued", ready: "refused", running: "refused", "nope": "missing"},
            "1 requeued, 2 refused, 1 missing",
        ),
    ):
        code, out, err = ctl(action, failed, ready, running, "nope", "--dry-run")
        assert code == 0, action
        words = {line.split()[0]: line.split()[1] for line in out.splitlines()}
        assert words == expected, action
        assert err.strip() == f"Dry run, nothing changed: {summary}.", action
    assert "it is RUNNING" in ctl("purge", running, "--dry-run")[1]
    assert states(backend, [failed, ready]) == {TaskState.FAILED, TaskState.READY}
    assert backend.get_task(running).state == TaskState.RUNNING


def test_cancel_by_filter_and_background(backend):
    wanted = [tasks.echo.enqueue("acct-9").id for _ in range(3)]
    other = tasks.echo.enqueue("acct-1").id
    code, out, _ = ctl("cancel", "--args-contains", "acct-9", "--yes", "--background")
    assert code == 0
    [job] = backend.jobs()
    assert out.strip() == job.id
    assert job.status == JobStatus.WAITING  # left to the pools
    while backend.run_job_chunk(job.id)[0] == "running":
        pass
    assert states(backend, wanted) == {TaskState.FAILED}
    assert states(backend, [other]) == {TaskState.READY}


def test_requeue_and_purge_by_id(backend):
    [failed] = make_failed(backend, 1)
    ready = tasks.noop.enqueue().id
    code, out, err = ctl("requeue", failed, ready, "nope")
    assert code == 1
    words = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert words == {failed: "requeued", ready: "refused", "nope": "missing"}
    assert err.strip() == "1 requeued, 1 refused, 1 missing."
    code, out, _ = ctl("purge", failed, "--yes")
    assert (code, out.split()[:2]) == (0, [failed, "purged"])
    assert backend.get_task(failed) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("purge", "--error", "X"), "purge by filter needs --state"),
        (
            ("requeue", "--state", "ready"),
            "--state ready: requeue by filter takes failed, successful",
        ),
        (("cancel", "--state", "running"), "cancel by filter takes ready, deferred, retrying"),
        (("requeue", "--since", "soon"), "--since: 'soon' is not a date or time"),
        (("requeue", "x", "--error", "E"), "Give task ids or filters, not both"),
        (("cancel", "--error", "E", "--terminate"), "--terminate works on ids only"),
        (("requeue",), "Give task ids, or filters"),
        (
            ("requeue", "--queue", "nope"),
            "--queue nope: no such queue (queues: default, high, low)",
        ),
    ],
)
def test_bad_command_lines_say_what_is_wrong(backend, args, message):
    with pytest.raises(CommandError, match=re.escape(message)) as e:
        ctl(*args)
    assert e.value.returncode == 2
