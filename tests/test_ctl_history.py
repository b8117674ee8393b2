"""`threadmill_ctl --user NAME` (or $THREADMILL_CTL_USER): what the command changes is
recorded in the admin's history (LogEntry) in that user's name, as the admin's own actions
are; an unknown user is refused before anything is done; without a user nothing is
recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.management import CommandError
from django.db import connection
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import fake_heartbeat, make_user
from tests.search_helpers import make_failed
from tests.test_ctl_command import ctl
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

pytestmark = pytest.mark.django_db

SCHEDULES = {"sync": {"task": "tests.tasks.noop", "every": 3600, "timezone": "UTC"}}


def messages() -> list[str]:
    return [e.change_message for e in LogEntry.objects.order_by("pk")]


def test_task_actions_are_recorded_in_the_users_name_one_entry_per_task(backend):
    ann = make_user("ann", staff=False)
    [failed] = make_failed(backend, 1)
    ready = tasks.noop.enqueue().id
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    assert ctl("run-now", later, "--user", "ann")[0] == 0
    assert (
        ctl("cancel", ready, "nope", "--user", "ann", "--yes")[0] == 1
    )  # the missing id: no entry
    assert ctl("requeue", failed, "--user", "ann")[0] == 0
    assert ctl("cancel", failed, "--user", "ann", "--yes")[0] == 0
    assert ctl("purge", failed, ready, "--user", "ann", "--yes")[0] == 0
    entries = list(LogEntry.objects.order_by("pk"))
    assert {e.user_id for e in entries} == {ann.pk}
    assert [(e.object_id, e.action_flag) for e in entries] == [
        (f"default:{later}", CHANGE),
        (f"default:{ready}", CHANGE),
        (f"default:{failed}", CHANGE),
        (f"default:{failed}", CHANGE),
        (f"default:{failed}", DELETION),
        (f"default:{ready}", DELETION),
    ]
    first = entries[0].change_message
    assert first.startswith("Run now (moved to READY) through threadmill_ctl (ctl:")
    assert [m.split(" through ")[0] for m in messages()] == [
        "Run now (moved to READY)",
        "Cancelled",
        "Requeued",
        "Cancelled",
        "Purged",
        "Purged",
    ]


def test_queue_pool_and_schedule_actions_are_recorded(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"schedules": SCHEDULES})
    make_user("ann")
    assert ctl("pause", "default", "--user", "ann")[0] == 0
    assert ctl("pause", "default", "--user", "ann")[0] == 0  # no change: no entry
    assert ctl("resume", "default", "--user", "ann")[0] == 0
    fake_heartbeat(backend, "pool-1")
    assert ctl("pool", "quiet", "pool-1", "--user", "ann")[0] == 0
    assert ctl("pause-schedule", "sync", "--user", "ann")[0] == 0
    code, out, _ = ctl("run-schedule", "sync", "--user", "ann")
    assert code == 0
    task_id = out.split("task ")[1].split()[0]
    via = messages()[0].split(" through ")[1]
    assert via.startswith("threadmill_ctl (ctl:")
    assert messages() == [
        f"Paused queue 'default' (backend 'default') through {via}",
        f"Resumed queue 'default' (backend 'default') through {via}",
        f"Asked pool 'pool-1' (backend 'default') to quiet through {via}",
        f"Paused schedule 'sync' (backend 'default') through {via}",
        f"Ran schedule 'sync' (backend 'default') now through {via}",
    ]
    run = LogEntry.objects.order_by("pk").last()
    assert (run.action_flag, run.object_id) == (ADDITION, f"default:{task_id}")


def test_a_bulk_job_gets_one_entry_however_many_look_at_it(backend, client):
    ann = make_user("ann", "view_task")
    ids = make_failed(backend, 3, "builtins.KeyError")
    code, out, _ = ctl("requeue", "--error", "KeyError", "--yes", "--user", "ann")
    assert (code, "Requeued 3, refused 0, of 3 examined (done)." in out) == (0, True)
    [job] = backend.jobs()
    assert job.user_id == str(ann.pk)
    [entry] = LogEntry.objects.all()
    assert entry.user_id == ann.pk
    assert entry.change_message.startswith(
        f"Requeued 3 failed tasks of queue 'default' (backend 'default') where last error "
        f"KeyError by bulk job {job.id} started by ctl:"
    )
    client.force_login(ann)
    assert client.get("/admin/threadmill/task/default/jobs/").status_code == 200
    assert LogEntry.objects.count() == 1  # the admin saw it finished: claimed already
    assert {backend.get_task(i).state for i in ids} == {TaskState.READY}


def test_the_environment_names_the_user_and_without_one_nothing_is_recorded(backend, monkeypatch):
    make_user("ops")
    assert ctl("pause", "default")[0] == 0
    assert not LogEntry.objects.exists()
    monkeypatch.setenv("THREADMILL_CTL_USER", "ops")
    assert ctl("resume", "default")[0] == 0
    [entry] = LogEntry.objects.all()
    assert entry.user.username == "ops"


def test_an_unknown_user_is_refused_before_anything_is_done(backend):
    ready = tasks.noop.enqueue().id
    for args in (("cancel", ready), ("pause", "default")):
        with pytest.raises(CommandError, match="--user nobody: no Django user named 'nobody'") as e:
            ctl(*args, "--user", "nobody")
        assert e.value.returncode == 2
    assert backend.get_task(ready).state == TaskState.READY
    assert backend.paused_queues() == []
    for read_only in (("stats", "--json"), ("pool", "list"), ("purge", ready, "--dry-run")):
        assert ctl(*read_only, "--user", "nobody")[0] == 0, read_only  # not looked up


def test_done_but_not_recorded_exits_1_and_says_so(backend, monkeypatch):
    make_user("ann")
    with connection.cursor() as cursor:  # the history's table is gone: the write fails
        cursor.execute("DROP TABLE django_admin_log")
    code, out, err = ctl("pause", "default", "--user", "ann")
    assert (code, out.strip()) == (1, "default  paused")
    assert "Done, but not recorded in the admin's history:" in err
    assert backend.paused_queues() == ["default"]


def test_a_job_entry_is_written_once_dated_when_the_job_finished(backend):
    from threadmill.admin.history import log_job_once

    ann = make_user("ann")
    make_failed(backend, 2)
    job = backend.create_job(
        "purge", "default", TaskState.FAILED, TaskFilter(), who="admin:ann", user_id=str(ann.pk)
    )
    while backend.run_job_chunk(job.id)[0] == "running":
        pass
    done = backend.get_job(job.id)
    seen_twice = backend.get_job(job.id)  # two pages read it before either wrote
    assert log_job_once(backend, done) is True
    assert log_job_once(backend, seen_twice) is False  # the claim is taken: rolled back
    [entry] = LogEntry.objects.all()
    assert entry.action_time == done.finished_at
    assert entry.user_id == ann.pk
    assert backend.get_job(job.id).logged


def test_a_job_whose_user_is_gone_is_claimed_without_an_entry(backend):
    from threadmill.admin.history import log_job_once

    gone = make_user("gone")
    job = backend.create_job(
        "purge", "default", TaskState.FAILED, TaskFilter(), who="t", user_id=str(gone.pk)
    )
    while backend.run_job_chunk(job.id)[0] == "running":
        pass
    gone.delete()
    assert log_job_once(backend, backend.get_job(job.id)) is False
    assert not LogEntry.objects.exists()
    assert backend.get_job(job.id).logged  # nobody tries again
