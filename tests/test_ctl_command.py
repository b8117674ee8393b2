"""`manage.py threadmill_ctl cancel`: outcomes per id, exit codes, errors; through
call_command and as a process (the exit codes a shell sees)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import fail_next
from tests.conftest import tasks_setting
from tests.pool_helpers import ROOT
from threadmill.backends.records import TaskState


def ctl(*args: str) -> tuple[int, str, str]:
    """call_command: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("threadmill_ctl", *args, stdout=out, stderr=err)
    except SystemExit as exited:
        return int(exited.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def outcomes(stdout: str) -> dict[str, str]:
    """id -> outcome word of each line."""
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines()}


def test_cancel_queued_tasks_exits_0(backend):
    ready = tasks.noop.enqueue().id
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    code, out, err = ctl("cancel", ready, later, ready, "--who", "ops:carol", "--yes")
    assert code == 0
    assert outcomes(out) == {ready: "cancelled", later: "cancelled"}  # duplicates once
    assert "removed from its queue, it will not run" in out
    assert err.strip() == "2 cancelled."
    for task_id in (ready, later):
        record = backend.get_task(task_id)
        assert record.state == TaskState.FAILED
        assert record.last_error.exception_class_path == "threadmill.exceptions.Cancelled"
        assert "cancelled by ops:carol" in record.last_error.traceback


def test_running_finished_and_missing_ids_exit_1_with_each_outcome(backend):
    tasks.fail.enqueue()
    failed = fail_next(backend).task_id
    running = tasks.noop.enqueue().id
    assert backend.acquire("w1", ["default"], "w1/1").task_id == running
    ready = tasks.noop.enqueue().id
    code, out, err = ctl("cancel", running, failed, "no-such-id", ready, "--yes")
    assert code == 1
    assert outcomes(out) == {
        running: "requested",
        failed: "refused",
        "no-such-id": "missing",
        ready: "cancelled",
    }
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines[failed].endswith("already FAILED")
    assert lines[running].endswith("its worker was asked to stop it")
    assert "mistyped" in lines["no-such-id"]
    assert [line.split()[0] for line in out.splitlines()] == [running, failed, "no-such-id", ready]
    assert err.strip() == "1 cancelled, 1 requested, 1 refused, 1 missing."
    record = backend.get_task(running)
    assert record.state == TaskState.RUNNING
    assert record.cancel_requested_by.startswith("ctl:")  # the default who: ctl:login@host
    [request] = backend.wait_for_control("w1", 1)
    assert (request.task_id, request.terminate) == (running, False)
    assert backend.get_task(failed).state == TaskState.FAILED


def test_terminate_tells_the_worker_to_stop_the_task_now(backend):
    running = tasks.noop.enqueue().id
    backend.acquire("w1", ["default"], "w1/1")
    code, out, _ = ctl("cancel", "--terminate", running, "--who", "ops", "--yes")
    assert code == 0
    assert outcomes(out) == {running: "requested"}
    assert "told to stop it now" in out
    [request] = backend.wait_for_control("w1", 1)
    assert (request.task_id, request.terminate, request.who) == (running, True, "ops")


def test_another_alias_is_chosen_with_backend(redis_server):
    with override_settings(TASKS=tasks_setting(redis_server.url, aliases=("other",))):
        task_id = tasks.noop.using(backend="other").enqueue().id
        code, out, _ = ctl("cancel", task_id, "--yes")  # the default alias does not have it
        assert (code, outcomes(out)) == (1, {task_id: "missing"})
        code, out, _ = ctl("cancel", task_id, "--backend", "other", "--yes")
        assert (code, outcomes(out)) == (0, {task_id: "cancelled"})


def test_a_wrong_backend_or_command_line_is_a_command_error():
    with pytest.raises(CommandError, match=r"Unknown backend alias 'nope'.*defines: default") as e:
        ctl("cancel", "x", "--backend", "nope")
    assert e.value.returncode == 2
    with pytest.raises(CommandError, match="required: SUBCOMMAND"):
        ctl()
    with pytest.raises(CommandError, match="invalid choice: 'frobnicate'"):
        ctl("frobnicate")
    with pytest.raises(CommandError, match="Give task ids, or filters"):
        ctl("cancel")
    with pytest.raises(CommandError, match="No task id given") as e:
        ctl("cancel", " ")
    assert e.value.returncode == 2


def test_a_backend_that_is_not_threadmill_is_refused(redis_server):
    setting = tasks_setting(redis_server.url)
    setting["plain"] = {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    with override_settings(TASKS=setting), pytest.raises(CommandError) as e:
        ctl("cancel", "x", "--backend", "plain", "--yes")
    assert "not a Threadmill backend" in str(e.value)
    assert e.value.returncode == 2


def test_redis_down_is_a_command_error(make_backend):
    make_backend("redis://127.0.0.1:1/0", {"retry_attempts": 0})
    with pytest.raises(CommandError, match=r"did not complete.*did not answer") as e:
        ctl("cancel", "x", "--yes")
    assert e.value.returncode == 2


def run_ctl(url: str, *args: str, options: dict | None = None) -> subprocess.CompletedProcess:
    """The command as a shell runs it (options: the alias's OPTIONS, as JSON)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "THREADMILL_TEST_REDIS_URL": url,
        "THREADMILL_TEST_OPTIONS": json.dumps(options or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "threadmill_ctl", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_codes_as_a_shell_sees_them(backend, redis_server):
    ready = tasks.noop.enqueue().id
    done = run_ctl(redis_server.url, "cancel", ready, "--yes")
    assert (done.returncode, done.stdout.split()[:2]) == (0, [ready, "cancelled"])
    again = run_ctl(redis_server.url, "cancel", ready, "--yes")  # now FAILED: refused
    assert (again.returncode, again.stdout.split()[:2]) == (1, [ready, "refused"])
    assert again.stderr.strip() == "1 refused."
    wrong = run_ctl(redis_server.url, "cancel", ready, "--backend", "nope")
    assert wrong.returncode == 2
    assert "CommandError: Unknown backend alias 'nope'" in wrong.stderr
    malformed = run_ctl(redis_server.url, "cancel", "--frobnicate", ready)
    assert malformed.returncode == 2
    assert "unrecognized arguments: --frobnicate" in malformed.stderr


def test_every_subcommand_and_flag_is_documented():
    from django.core.management import load_command_class

    command = load_command_class("threadmill", "threadmill_ctl")
    parser = command.create_parser("manage.py", "threadmill_ctl")
    [subparsers] = [a for a in parser._actions if a.dest == "subcommand"]
    page = (ROOT / "docs/cli.md").read_text()
    readme = (ROOT / "README.md").read_text()
    by_filter = ["--queue", "--state", "--task", "--error", "--worker", "--since", "--until"]
    by_filter += ["--args-contains", "--dry-run", "--yes", "--background"]
    common = ["--backend", "--user"]
    expected = {
        "cancel": ([*common, "--terminate", "--who", *by_filter], ["ID"]),
        "requeue": ([*common, *by_filter], ["ID"]),
        "purge": ([*common, *by_filter], ["ID"]),
        "run-now": (common, ["ID"]),
        "pause": (common, ["QUEUE"]),
        "resume": (common, ["QUEUE"]),
        "pool": (common, ["POOL_ID"]),
        "schedules": ([*common, "--json"], []),
        "pause-schedule": (common, ["NAME"]),
        "resume-schedule": (common, ["NAME"]),
        "run-schedule": (common, ["NAME"]),
        "stats": ([*common, "--json", "--prometheus", "--span"], []),
    }
    assert set(subparsers.choices) == set(expected)
    for name, sub in subparsers.choices.items():
        assert f"manage.py threadmill_ctl {name}" in page
        assert f"manage.py threadmill_ctl {name}" in readme
        flags = [
            a.option_strings[0] for a in sub._actions if a.option_strings[:1] not in ([], ["-h"])
        ]
        want, positional = expected[name]
        assert flags == want, name
        for flag in [*flags, *positional]:
            assert f"| `{flag}` |" in page, flag
