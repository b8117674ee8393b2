"""Task controls under faults, each ending with the ledger check: cancels racing the
acknowledgements of a draining pool, retries racing the loss of their worker, unique claims
across a crash of the whole pool."""

from __future__ import annotations

import os
import random
import signal
import threading

from django.tasks import TaskResultStatus

from tests import tasks
from tests.faults import ledger
from tests.pool_helpers import wait_until

SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED
CANCELLED = "threadmill.exceptions.Cancelled"
FAST = {"broker_interval": 0.05}


def test_cancels_racing_a_draining_pool_end_in_one_state_each(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    ids = [tasks.ledger_nap.enqueue(str(book), 0.02).id for _ in range(300)]
    p = pool("--processes", "2", "--threads", "2", "--exit-empty", options=FAST)
    outcomes: dict[str, str] = {}
    rng = random.Random(7)
    wait_until(lambda: len(ledger.executions(book)) >= 10, 20, message=p.tail)
    while p.process.poll() is None:  # cancel around the drain's front: done, running, next
        front = len(ledger.executions(book))
        window = [i for i in ids[max(front - 6, 0) : front + 6] if i not in outcomes]
        if window:
            outcomes.update(backend.cancel(rng.sample(window, min(2, len(window))), who="ft"))
    assert p.wait(60) == 0, p.tail()
    report = ledger.check(backend, ids, book)
    report.assert_consistent()
    runs = report.executions
    for task_id, outcome in outcomes.items():
        result = backend.get_result(task_id)
        if outcome == "cancelled":  # cancelled before it started: it never runs
            assert runs[task_id] == 0
            assert result.status == FAILED
            assert result.errors[-1].exception_class_path == CANCELLED
        else:  # it was running or done: the task ran once and its own outcome stands
            assert outcome in ("requested", "SUCCESSFUL")
            assert runs[task_id] == 1
            assert result.status == SUCCESSFUL
    assert {"cancelled", "requested", "SUCCESSFUL"} <= set(outcomes.values()), outcomes
    assert report.statuses[SUCCESSFUL] + report.statuses[FAILED] == 300


def test_retries_racing_the_loss_of_their_worker_lose_nothing(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    ids = [tasks.ledger_flaky.enqueue(str(book), 0.15).id for _ in range(60)]
    p = pool("--processes", "2", "--threads", "2", options={"max_attempts": 10, **FAST})
    p.wait_for_workers(2)
    kills = 0
    for _ in range(5):  # kill a worker in the middle of a task (first attempts or retries)
        wait_until(lambda: ledger.executions(book), 20, message=p.tail)
        wait_until(lambda: len(p.workers()) == 2, 20, message=p.tail)
        wait_until(lambda: sum(s.running for s in backend.queue_stats(["default"])) > 0, 20)
        try:
            os.kill(random.choice(p.workers()), signal.SIGKILL)
            kills += 1
        except (ProcessLookupError, IndexError):
            pass
        threading.Event().wait(0.4)
    assert kills >= 3

    def all_done():
        return all(backend.get_result(i).status in (SUCCESSFUL, FAILED) for i in ids)

    wait_until(all_done, 60, message=p.tail)
    report = ledger.check(backend, ids, book)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == 60
    kinds = {e.exception_class_path for i in ids for e in backend.get_result(i).errors}
    assert "builtins.ConnectionError" in kinds
    assert "threadmill.exceptions.WorkerLost" in kinds  # the faults did hit retries


def test_unique_claims_survive_a_crash_of_the_whole_pool_and_never_block(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    options = {"heartbeat_interval": 0.2, "heartbeat_ttl": 1.0, **FAST}
    ids = [tasks.ledger_unique.enqueue(str(book), f"k{n}", 30).id for n in range(4)]
    first = pool("--processes", "1", "--threads", "4", options=options)
    wait_until(lambda: len(ledger.executions(book)) == 4, 20, message=first.tail)
    first.close()  # SIGKILL of master and workers: nobody resolves their tasks
    # While the crashed tasks wait to be found, an equal enqueue still returns them.
    again = [tasks.ledger_unique.enqueue(str(book), f"k{n}", 0).id for n in range(4)]
    assert again == ids
    second = pool("--processes", "1", "--threads", "4", options=options)
    wait_until(
        lambda: all(
            any(e.exception_class_path.endswith("WorkerLost") for e in backend.get_result(i).errors)
            for i in ids
        ),
        20,
        message=second.tail,
    )
    backend.cancel(ids, who="fault-test", terminate=True)  # do not wait 30 s for them
    wait_until(
        lambda: all(backend.get_result(i).status == FAILED for i in ids),
        20,
        message=lambda: f"{[backend.get_result(i).status for i in ids]} {second.tail()}",
    )
    fresh = [tasks.ledger_unique.enqueue(str(book), f"k{n}", 0).id for n in range(4)]
    assert not set(fresh) & set(ids)  # the claims went with their tasks
    wait_until(lambda: all(backend.get_result(i).status == SUCCESSFUL for i in fresh), 20)
    report = ledger.check(backend, ids + fresh, book)
    report.assert_consistent()
