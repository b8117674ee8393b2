"""`manage.py threadmill_ctl schedules / pause-schedule / resume-schedule / run-schedule`
on a real Redis: the table and its JSON, the actions, unknown names and broken entries, and
the exit codes (through call_command and as a shell sees them)."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError

from tests.test_ctl_command import ctl, run_ctl
from threadmill.backends.records import TaskState

SCHEDULES = {
    "nightly": {"task": "tests.tasks.noop", "cron": "0 2 * * *", "timezone": "Europe/Berlin"},
    "sync": {"task": "tests.tasks.noop", "every": 60, "timezone": "UTC"},
    "broken": {"task": "tests.tasks.no_such_task", "every": 60},
    "bad": {"task": "tests.tasks.noop", "cron": "61 * * * *"},
}


@pytest.fixture
def scheduled(make_backend, redis_server):
    return make_backend(redis_server.url, {"schedules": SCHEDULES})


def rows(stdout: str) -> dict[str, list[str]]:
    """name -> cells of the table (columns are two or more spaces apart)."""
    lines = stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "NAME",
        "TASK",
        "SCHEDULE",
        "NEXT RUN",
        "PAUSED",
        "LAST RUN",
        "PROBLEM",
    ]
    starts = [lines[0].index(h) for h in ("TASK", "SCHEDULE", "NEXT RUN", "PAUSED", "LAST RUN")]
    starts.append(lines[0].index("PROBLEM"))
    found = {}
    for line in lines[1:]:
        bounds = [0, *starts, len(line)]
        found[line.split()[0]] = [line[a:b].strip() for a, b in itertools.pairwise(bounds)]
    return found


def fire(backend, name: str) -> str:
    [entry] = [e for e in backend.schedule_entries()[0] if e.name == name]
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    return backend.fire_schedule(entry, slot).task_id


def test_the_table_shows_each_schedule_in_its_zone_with_its_last_run_and_problem(scheduled):
    task_id = fire(scheduled, "sync")
    scheduled.pause_schedule("nightly", True)
    code, out, err = ctl("schedules")
    assert code == 0
    table = rows(out)
    assert list(table) == ["nightly", "sync", "broken", "bad"]  # settings order
    _, task, words, next_run, paused, last, problem = table["nightly"]
    assert (task, paused, last, problem) == ("tests.tasks.noop", "yes", "-", "-")
    assert "02:00" in words
    assert "(Europe/Berlin)" in words
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 0[23]:00:00 CES?T", next_run), next_run
    _, task, words, next_run, paused, last, problem = table["sync"]
    assert (words, paused, problem) == ("every minute", "no", "-")
    assert next_run.endswith(":00 UTC")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC READY", last), last
    assert table["broken"][-1] == "threadmill.E023"
    assert table["bad"][1:] == ["-", "-", "-", "no", "-", "threadmill.E021"]
    # each problem in full on stderr
    assert "broken: threadmill.E023:" in err
    assert "no_such_task" in err
    assert "bad: threadmill.E021:" in err

    code, out, _ = ctl("schedules", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["backend"] == "default"
    by_name = {s["name"]: s for s in data["schedules"]}
    assert list(by_name) == ["nightly", "sync", "broken", "bad"]
    sync = by_name["sync"]
    assert (sync["task"], sync["every_seconds"], sync["paused"]) == ("tests.tasks.noop", 60, False)
    assert sync["last_run"]["task_id"] == task_id
    assert (sync["last_run"]["status"], sync["last_run"]["how"]) == ("READY", "slot")
    assert sync["runs"] == [sync["last_run"]]
    next_slot = datetime.fromisoformat(sync["next_slot"])
    assert next_slot.utcoffset() == timedelta(0)
    assert next_slot.second == 0
    nightly = by_name["nightly"]
    assert (nightly["cron"], nightly["timezone"], nightly["paused"]) == (
        "0 2 * * *",
        "Europe/Berlin",
        True,
    )
    local = datetime.fromisoformat(nightly["next_slot_local"])
    assert local == datetime.fromisoformat(nightly["next_slot"])
    assert local.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert by_name["broken"]["problem"]["id"] == "threadmill.E023"
    assert by_name["bad"]["problem"]["hint"]
    assert (by_name["bad"]["next_slot"], by_name["bad"]["runs"]) == (None, [])


def test_no_schedules_is_said_and_exits_0():
    code, out, err = ctl("schedules")
    assert (code, out) == (0, "")
    assert "No schedules: TASKS['default']['OPTIONS']['schedules'] is empty." in err
    code, out, _ = ctl("schedules", "--json")
    assert (code, json.loads(out)) == (0, {"backend": "default", "schedules": []})


def test_pause_and_resume_by_name(scheduled):
    code, out, err = ctl("pause-schedule", "sync", "nightly", "sync")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["sync", "paused"],
        ["nightly", "paused"],
    ]
    assert "counted as skipped" in out
    assert err.strip() == "2 paused."
    states = scheduled.schedule_states(["sync", "nightly"])
    assert [states["sync"].paused, states["nightly"].paused] == [True, True]
    code, out, _ = ctl("pause-schedule", "sync")
    assert (code, out.strip().endswith("(it was already paused)")) == (0, True)
    code, out, err = ctl("resume-schedule", "sync")
    assert code == 0
    assert out.split()[:4] == ["sync", "resumed", "next", "run"]
    assert err.strip() == "1 resumed."
    states = scheduled.schedule_states(["sync", "nightly"])
    assert (states["sync"].paused, states["nightly"].paused) == (False, True)
    code, out, _ = ctl("resume-schedule", "sync")
    assert (code, out.strip().endswith("(it was not paused)")) == (0, True)


def test_an_unknown_name_changes_nothing_and_lists_the_known_ones(scheduled):
    with pytest.raises(CommandError) as e:
        ctl("pause-schedule", "sync", "nigthly")
    assert e.value.returncode == 1
    assert str(e.value) == (
        "Unknown schedule 'nigthly': TASKS['default']['OPTIONS']['schedules'] defines "
        "nightly, sync, broken, bad. Nothing was changed."
    )
    assert not scheduled.schedule_states(["sync"])["sync"].paused  # the valid name too
    with pytest.raises(CommandError, match="Unknown schedule 'x', 'y'") as e:
        ctl("run-schedule", "x", "y")
    assert e.value.returncode == 1
    with pytest.raises(CommandError, match="No schedule name given") as e:
        ctl("resume-schedule", " ")
    assert e.value.returncode == 2


def test_run_schedule_enqueues_one_run_now_even_when_paused(scheduled):
    scheduled.pause_schedule("nightly", True)
    code, out, err = ctl("run-schedule", "nightly", "sync")
    assert code == 0
    ids = {line.split()[0]: line.split()[3] for line in out.splitlines()}
    assert [line.split()[1] for line in out.splitlines()] == ["enqueued", "enqueued"]
    assert err.strip() == "2 of 2 enqueued."
    for name, task_id in ids.items():
        record = scheduled.get_task(task_id)
        assert (record.schedule, record.path) == (name, "tests.tasks.noop")
        assert record.state == TaskState.READY
        [run] = scheduled.schedule_states([name])[name].runs
        assert (run.how, run.task_id) == ("now", task_id)
    assert scheduled.schedule_states(["nightly"])["nightly"].paused  # still paused


def test_run_schedule_refuses_an_entry_with_a_problem_and_runs_nothing(scheduled):
    for broken, check_id in (("broken", "threadmill.E023"), ("bad", "threadmill.E021")):
        with pytest.raises(CommandError) as e:
            ctl("run-schedule", "sync", broken)
        assert e.value.returncode == 1
        message = str(e.value)
        assert message.startswith("Refused: a schedule whose entry has a problem cannot run")
        assert f"{broken}: {check_id}:" in message
        assert "Nothing was run." in message
    assert scheduled.schedule_states(["sync"])["sync"].runs == []  # sync did not run either


def test_run_schedule_exits_1_when_a_unique_task_is_already_queued(make_backend, redis_server):
    entry = {"task": "tests.tasks.ledger_unique", "every": 3600}
    entry["kwargs"] = {"path": "/dev/null", "key": "k"}
    backend = make_backend(redis_server.url, {"schedules": {"u": entry}})
    assert ctl("run-schedule", "u")[0] == 0
    code, out, err = ctl("run-schedule", "u")
    assert code == 1
    assert out.split()[:2] == ["u", "unique"]
    assert "a run with the same key is queued or running" in out
    assert err.strip() == "0 of 1 enqueued."
    runs = backend.schedule_states(["u"])["u"].runs
    assert [run.how for run in runs] == ["unique", "now"]  # the live task's id, recorded
    assert runs[0].task_id == runs[1].task_id


def test_run_schedule_reports_arguments_that_cannot_be_enqueued(make_backend, redis_server):
    not_json = {"task": "tests.tasks.record", "every": 60, "kwargs": {"path": object()}}
    make_backend(redis_server.url, {"schedules": {"sync": SCHEDULES["sync"], "odd": not_json}})
    code, out, err = ctl("run-schedule", "odd", "sync")
    assert code == 1
    odd, sync = out.splitlines()
    assert odd.split()[:2] == ["odd", "refused"]
    assert "must be JSON-serializable" in odd
    assert sync.split()[:2] == ["sync", "enqueued"]
    assert err.strip() == "1 of 2 enqueued."


def test_redis_down_exits_2(make_backend):
    make_backend("redis://127.0.0.1:1/0", {"retry_attempts": 0, "schedules": SCHEDULES})
    for args in (["schedules"], ["pause-schedule", "sync"], ["run-schedule", "sync"]):
        with pytest.raises(CommandError, match=r"Cannot read the schedules.*did not answer") as e:
            ctl(*args)
        assert e.value.returncode == 2


def test_exit_codes_as_a_shell_sees_them(redis_server):
    options = {"schedules": {"sync": SCHEDULES["sync"], "broken": SCHEDULES["broken"]}}
    done = run_ctl(redis_server.url, "run-schedule", "sync", options=options)
    assert (done.returncode, done.stdout.split()[:2]) == (0, ["sync", "enqueued"])
    unknown = run_ctl(redis_server.url, "pause-schedule", "nope", options=options)
    assert unknown.returncode == 1
    assert "CommandError: Unknown schedule 'nope': " in unknown.stderr
    assert "defines sync, broken." in unknown.stderr
    refused = run_ctl(redis_server.url, "run-schedule", "broken", options=options)
    assert refused.returncode == 1
    assert "broken: threadmill.E023:" in refused.stderr
    listed = run_ctl(
        redis_server.url, "schedules", "--json", "--backend", "default", options=options
    )
    assert listed.returncode == 0
    [sync, broken] = json.loads(listed.stdout)["schedules"]
    assert (sync["last_run"]["how"], broken["problem"]["id"]) == ("now", "threadmill.E023")
    wrong = run_ctl(redis_server.url, "schedules", "--backend", "nope", options=options)
    assert wrong.returncode == 2
