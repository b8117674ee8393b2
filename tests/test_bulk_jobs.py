"""Bulk jobs in the backend: recorded in Redis, carried out chunk by chunk, each chunk an
atomic step that moves the job's cursor, so no task is acted on twice."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from rich.console import Console

from tests import tasks
from tests.search_helpers import fail_with, make_failed
from threadmill.backends.job_records import JobStatus
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter
from threadmill.top.render import render_screen
from threadmill.top.snapshot import Sampler

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster

FAILED = TaskState.FAILED


def run_to_end(backend, job_id: str, scan: int | None = None) -> int:
    """Run a job's chunks until it finishes; returns how many chunks it took."""
    for n in range(1, 10_000):
        status = backend._jobs.chunk(job_id, scan).status
        if status != "running":
            return n
    raise AssertionError("the job never finished")


def states(backend, ids) -> list[TaskState | None]:
    return [backend.get_task(i).state for i in ids]


def test_a_requeue_job_requeues_only_the_matching_tasks(backend):
    keys = make_failed(backend, 7, "builtins.KeyError")
    values = make_failed(backend, 5, "builtins.ValueError")
    job = backend.create_job("requeue", "default", FAILED, TaskFilter(error="KeyError"), who="t")
    assert (job.status, job.total, job.examined) == (JobStatus.WAITING, 12, 0)
    assert backend._jobs.active_ids() == [job.id]
    assert run_to_end(backend, job.id, scan=3) == 5  # 12 examined, 3 a chunk, then the end
    assert set(states(backend, keys)) == {TaskState.READY}
    assert set(states(backend, values)) == {FAILED}
    done = backend.get_job(job.id)
    assert (done.status, done.examined, done.acted, done.refused) == (JobStatus.DONE, 12, 7, 0)
    assert done.outcomes == {"requeued": 7}
    assert done.finished_at is not None
    assert done.percent == 100
    assert backend._jobs.active_ids() == []
    assert [j.id for j in backend.jobs()] == [job.id]


def test_a_task_that_fails_again_after_its_requeue_is_not_requeued_twice(backend):
    ids = make_failed(backend, 6)
    job = backend.create_job("requeue", "default", FAILED, TaskFilter(), who="t")
    assert backend._jobs.chunk(job.id, 2).acted == 2
    first = {i for i in ids if backend.get_task(i).state == TaskState.READY}
    # The two requeued tasks fail again at once: now they are the newest failures.
    assert {fail_with(backend), fail_with(backend)} == first
    run_to_end(backend, job.id, scan=2)
    done = backend.get_job(job.id)
    assert done.acted == 6  # each of the six once
    assert set(states(backend, first)) == {FAILED}
    assert set(states(backend, set(ids) - first)) == {TaskState.READY}


def test_tasks_finished_in_the_same_millisecond_are_each_handled_once(backend, rclient):
    ids = make_failed(backend, 9)
    index = backend.keys.index("default", "failed")
    rclient.zadd(index, {task_id: 1_700_000_000_000 for task_id in ids})  # one score
    job = backend.create_job("purge", "default", FAILED, TaskFilter(), who="t")
    assert run_to_end(backend, job.id, scan=2) == 5
    assert backend.get_job(job.id).acted == 9
    assert rclient.zcard(index) == 0


def test_a_cancel_job_cancels_ready_tasks_matching_their_arguments(backend):
    wanted = [tasks.echo.enqueue("acct-7").id for _ in range(3)]
    others = [tasks.echo.enqueue("acct-8").id for _ in range(2)]
    job = backend.create_job(
        "cancel", "default", TaskState.READY, TaskFilter(args="acct-7"), who="admin:ann"
    )
    run_to_end(backend, job.id)
    assert set(states(backend, wanted)) == {FAILED}
    assert "admin:ann" in backend.get_task(wanted[0]).last_error.traceback
    assert set(states(backend, others)) == {TaskState.READY}
    assert backend.get_job(job.id).outcomes == {"cancelled": 3}


def test_a_purge_job_removes_entries_whose_record_is_gone(backend, rclient):
    ids = make_failed(backend, 3)
    rclient.delete(backend.keys.task(ids[0]))
    job = backend.create_job("purge", "default", FAILED, TaskFilter(), who="t")
    run_to_end(backend, job.id)
    assert rclient.zcard(backend.keys.index("default", "failed")) == 0
    assert backend.get_job(job.id).acted == 3


def test_a_cancelled_job_stops_and_keeps_what_it_did(backend):
    ids = make_failed(backend, 6)
    job = backend.create_job("requeue", "default", FAILED, TaskFilter(), who="t")
    backend._jobs.chunk(job.id, 2)
    assert backend.cancel_job(job.id, "admin:bob") == "cancelled"
    assert backend._jobs.chunk(job.id, 2).status == "cancelled"
    after = backend.get_job(job.id)
    assert (after.status, after.acted, after.cancelled_by) == (JobStatus.CANCELLED, 2, "admin:bob")
    assert states(backend, ids).count(TaskState.READY) == 2
    assert backend.cancel_job(job.id, "admin:bob") == "cancelled"  # already: unchanged
    assert backend.cancel_job("nope", "admin:bob") == "missing"
    assert backend._jobs.active_ids() == []


def test_the_audit_entry_of_a_job_is_claimed_once(backend):
    job = backend.create_job("purge", "default", FAILED, TaskFilter(), who="t")
    run_to_end(backend, job.id)
    assert backend.claim_job_log(job.id) is True
    assert backend.claim_job_log(job.id) is False
    assert backend.get_job(job.id).logged


@pytest.mark.parametrize(
    ("action", "state"),
    [("requeue", TaskState.READY), ("cancel", FAILED), ("purge", TaskState.RUNNING), ("x", FAILED)],
)
def test_actions_a_state_does_not_allow_are_refused(backend, action, state):
    with pytest.raises(ValueError, match=r"bulk|Unknown"):
        backend.create_job(action, "default", state, TaskFilter(), who="t")


def test_a_maintenance_step_reports_the_unfinished_jobs(backend):
    make_failed(backend, 1)
    job = backend.create_job("requeue", "default", FAILED, TaskFilter(), who="t")
    assert backend.maintain(["default"]).active_jobs == [job.id]
    run_to_end(backend, job.id)
    assert backend.maintain(["default"]).active_jobs == []


def test_the_dashboard_shows_unfinished_jobs_in_its_frame_and_json(backend):
    make_failed(backend, 3, "builtins.KeyError")
    job = backend.create_job("requeue", "default", FAILED, TaskFilter(error="KeyError"), who="t")
    snapshot = Sampler(backend).sample()
    [view] = snapshot.jobs
    assert (view.job_id, view.status, view.total, view.where) == (
        job.id,
        "waiting",
        3,
        "last error KeyError",
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(render_screen(snapshot, 120, 60))
    assert "requeue default/failed where last error KeyError waiting 0%" in console.export_text()
    out = io.StringIO()
    call_command("threadmill_top", "--json", stdout=out)
    [data] = json.loads(out.getvalue())["jobs"]
    assert (data["job_id"], data["action"], data["status"]) == (job.id, "requeue", "waiting")
    run_to_end(backend, job.id)
    assert Sampler(backend).sample().jobs == []
