"""A bulk job carried out by real pools: it survives its starter going away and pools being
killed (SIGKILL) or stopped (SIGTERM) mid-job, and acts on every matching task exactly once
while the requeued tasks fail again at once (a job acting twice would requeue them again)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests import tasks
from tests.pool_helpers import wait_until
from threadmill.backends.job_records import JobStatus
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

MATCHING, OTHERS = 4000, 500
#: Small chunks, so that the job spans many maintenance steps and the kills land mid-job.
OPTIONS = {"batch_size": 10, "broker_interval": 0.05, "heartbeat_interval": 0.2}


def failed_tasks(backend, ledger: Path) -> None:
    """MATCHING + OTHERS tasks of queue 'low', FAILED with Cancelled without running."""
    calls = [((str(ledger), f"keep-{n}"), {}) for n in range(MATCHING)]
    calls += [((str(ledger), f"skip-{n}"), {}) for n in range(OTHERS)]
    results = backend.enqueue_many(tasks.ledger_fail.using(queue_name="low"), calls)
    backend.cancel([r.id for r in results], who="setup")
    assert backend.queue_stats(["low"])[0].failed == MATCHING + OTHERS


def examined(backend, job_id: str) -> int:
    return backend.get_job(job_id).examined


def test_a_job_survives_killed_and_stopped_pools_and_acts_once_per_task(
    backend, pool, tmp_path, make_backend, redis_server
):
    backend = make_backend(redis_server.url, OPTIONS)
    ledger = tmp_path / "ledger"
    failed_tasks(backend, ledger)
    # Started, then its starter goes away (a closed tab): the job only lives in Redis.
    job = backend.create_job(
        "requeue", "low", TaskState.FAILED, TaskFilter(error="Cancelled", args="keep"), who="t"
    )
    assert job.total == MATCHING + OTHERS
    # The pool that runs the requeued tasks (they fail again at once) never serves the job
    # alone: two pools on another queue carry it out too, and are killed / stopped mid-job.
    runner = pool("--queues", "low", "--processes", "1", "--threads", "4", options=OPTIONS)
    killed = pool("--queues", "default", "--processes", "1", "--threads", "1", options=OPTIONS)
    wait_until(lambda: examined(backend, job.id) >= 600, timeout=30, message="job started")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    at_kill = backend.get_job(job.id)
    assert at_kill.status == JobStatus.RUNNING, "the job ended before the kill"
    stopped = pool("--queues", "default", "--processes", "1", "--threads", "1", options=OPTIONS)
    goal = at_kill.examined + 800
    wait_until(lambda: examined(backend, job.id) >= goal, timeout=30, message="job went on")
    stopped.send(signal.SIGTERM)
    stopped.wait()
    assert backend.get_job(job.id).status == JobStatus.RUNNING, "the job ended before the stop"
    pool("--queues", "default", "--processes", "1", "--threads", "1", options=OPTIONS)
    wait_until(
        lambda: backend.get_job(job.id).status == JobStatus.DONE, timeout=60, message="job done"
    )
    done = backend.get_job(job.id)
    assert (done.examined, done.acted, done.refused) == (MATCHING + OTHERS, MATCHING, 0)

    def ledger_lines() -> list[str]:
        return ledger.read_text().splitlines() if ledger.exists() else []

    wait_until(lambda: len(ledger_lines()) >= MATCHING, timeout=60, message="tasks ran")
    wait_until(lambda: backend.queue_stats(["low"])[0].failed == MATCHING + OTHERS, timeout=30)
    lines = ledger_lines()
    ids = [line.split()[0] for line in lines]
    assert len(lines) == len(set(ids)) == MATCHING  # every matching task ran exactly once
    assert all(line.split()[1].startswith("keep-") for line in lines)
    assert "Traceback" not in runner.log()
