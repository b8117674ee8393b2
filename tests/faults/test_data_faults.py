"""Bad data, racing admin actions, skewed clocks and a soak run, through a real pool."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from tests import tasks
from tests.faults import ledger
from tests.pool_helpers import wait_until
from tests.test_backend_states import ALL, token
from threadmill.backends.records import AckOutcome, TaskState

SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED


def test_bad_data_fails_clearly_and_the_queue_keeps_flowing(pool, backend, rclient, tmp_path):
    book = tmp_path / "ledger"
    keys = backend.keys
    good = [tasks.ledger_nap.enqueue(str(book)).id for _ in range(50)]
    garbage = tasks.add.enqueue(1, 2).id
    rclient.hset(keys.task(garbage), "kwargs", "{not json")
    vanished = tasks.add.enqueue(3, 4).id
    rclient.hset(keys.task(vanished), "path", "tests.removed_in_last_deploy.add")
    huge = tasks.returns_huge.enqueue(5000).id
    ghosts = [f"ghost-{i}" for i in range(20)]  # ids at the head of the queue, no record
    rclient.zadd(keys.index("default", "ready"), dict.fromkeys(ghosts, 0))
    rclient.zadd(keys.index("default", "ready"), {"wrongtype": 0})
    rclient.set(keys.task("wrongtype"), "garbage")
    p = pool(
        "--processes", "1", "--threads", "2", "--exit-empty", options={"max_result_size": 1000}
    )
    assert p.wait(60) == 0, p.tail()
    report = ledger.check(backend, good, book)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == 50
    reasons = {
        garbage: "threadmill.exceptions.CorruptTaskData",
        vanished: "threadmill.exceptions.TaskNotFound",
        huge: "threadmill.exceptions.ResultTooLarge",
        "wrongtype": "threadmill.exceptions.CorruptTaskData",
        **dict.fromkeys(ghosts, "threadmill.exceptions.CorruptTaskData"),
    }
    for task_id, error in reasons.items():
        record = backend.get_task(task_id)
        assert record.state == TaskState.FAILED, task_id
        assert record.errors[-1].exception_class_path == error, task_id
    assert backend.get_task(vanished).args == [3, 4]  # payload kept for a requeue
    assert backend.get_task("wrongtype").raw == "garbage"
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.running) == (0, 0)
    assert stats.failed == len(reasons)


@pytest.mark.parametrize("action", ["purge", "requeue"])
def test_admin_action_racing_an_acknowledge_never_duplicates_or_loses(backend, action):
    for _ in range(150):
        result = tasks.noop.enqueue()
        lease = backend.acquire("w1", ALL, token())
        barrier = threading.Barrier(2)
        outcome = {}

        def worker(lease=lease, barrier=barrier, outcome=outcome):
            barrier.wait()
            outcome["ack"] = backend.acknowledge(lease, "w1", succeeded=True, value_json="1")

        thread = threading.Thread(target=worker)
        thread.start()
        barrier.wait()
        admin = getattr(backend, action)([result.id])[result.id]
        thread.join()
        ack = outcome["ack"].outcome
        record = backend.get_task(result.id)
        if admin == "RUNNING":  # refused: the worker still held it
            assert ack == AckOutcome.OK
            assert record.state == TaskState.SUCCESSFUL
        elif action == "purge":  # purged after the acknowledgement: gone, everywhere
            assert (admin, ack, record) == ("purged", AckOutcome.OK, None)
        else:  # requeued after the acknowledgement: ready to run again, history kept
            assert (admin, ack) == ("requeued", AckOutcome.OK)
            assert record.state == TaskState.READY
            assert record.attempts == 1
            backend.purge([result.id])
        stats = backend.queue_stats(["default"])[0]
        assert stats.running == 0
        assert stats.ready + stats.successful <= 1  # never doubly-finished or resurrected
        backend.purge_batch("default", TaskState.SUCCESSFUL)


def test_a_pool_with_a_skewed_clock_changes_nothing(pool, backend):
    faketime = shutil.which("faketime")
    assert faketime, "faketime is required (apt-get install faketime); .ci/run installs it"
    options = {"lease_ttl": 3, "heartbeat_interval": 0.3, "heartbeat_ttl": 1.5}
    naps = [tasks.pause.enqueue(1.5).id for _ in range(2)]
    due = timezone.now() + timedelta(seconds=2)
    deferred = tasks.noop.using(run_after=due).enqueue().id
    p = pool(
        "--processes",
        "1",
        "--threads",
        "3",  # one thread stays free for the deferred task
        options=options,
        prefix=[faketime, "-f", "+600s"],
        env={"FAKETIME_DONT_FAKE_MONOTONIC": "1"},
    )
    wait_until(
        lambda: all(backend.get_result(i).status == SUCCESSFUL for i in [*naps, deferred]), 30
    )
    started = backend.get_result(deferred).started_at
    assert started >= due  # never early (Redis time decides)
    # And not 10 minutes late: a few seconds at most, as the pool starts after the enqueue
    # (a start-up slower than the 2 s lead, under faketime on a loaded machine, makes it
    # that late) and its broker promotes due tasks once a second.
    assert started - due < timedelta(seconds=5)
    [info] = backend.pools()
    assert 590 < info.report.skew_seconds < 610
    assert "threadmill.W004" in {m.id for m in backend.check()}
    assert "AcknowledgementTimeout" not in p.log()


def test_soak_with_workers_killed_every_second(pool, backend, tmp_path):
    """CI size of bench/soak.py: every id accounted for, duplicates only after a loss."""
    size = int(os.environ.get("THREADMILL_SOAK_TASKS", "5000"))
    book = tmp_path / "ledger"
    # A short nap keeps the drain (8 threads) several seconds long, so several kills land.
    args = [((str(book), 0.01), {})] * size
    ids = [r.id for r in backend.enqueue_many(tasks.ledger_nap, args)]
    p = pool("--processes", "2", "--threads", "4", options={"max_attempts": 20})
    p.wait_for_workers(2)
    kills = 0
    deadline = time.monotonic() + 180
    while backend.queue_stats(["default"])[0].successful < size:
        assert time.monotonic() < deadline, p.tail()
        time.sleep(1.0)  # the kill rate is the fault under test
        workers = p.workers()
        if workers and backend.queue_stats(["default"])[0].ready:
            os.kill(random.choice(workers), signal.SIGKILL)
            kills += 1
    report = ledger.check(backend, ids, book)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == size
    assert kills >= 1
    assert sum(report.executions.values()) == size + report.explained_duplicates
    assert json.dumps(dict(report.statuses))  # printable summary for the log
