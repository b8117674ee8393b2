"""Durability when workers die: SIGKILL mid-task, a whole pool killed, poison tasks.

Every test ends with the ledger check: each enqueued id SUCCESSFUL, FAILED with a reason or
still queued; extra executions only where a WorkerLost is recorded.
"""

from __future__ import annotations

import os
import signal
import time

from django.tasks import TaskResultStatus

from tests import tasks
from tests.faults import ledger
from tests.pool_helpers import session_members, wait_until

SUCCESSFUL, FAILED, READY, RUNNING = (
    TaskResultStatus.SUCCESSFUL,
    TaskResultStatus.FAILED,
    TaskResultStatus.READY,
    TaskResultStatus.RUNNING,
)


def running_count(backend) -> int:
    return sum(s.running for s in backend.queue_stats(["default"]))


def test_worker_sigkilled_mid_task_loses_nothing(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    ids = [tasks.ledger_nap.enqueue(str(book), 0.3).id for _ in range(30)]
    p = pool("--processes", "2", "--threads", "2", "--exit-empty")
    wait_until(lambda: running_count(backend) >= 2 and len(ledger.executions(book)) >= 2, 20)
    # The worker that started a (0.3 s) task last is running it now; workers()[0] may be
    # idle while the other worker runs both tasks, and then nothing would run again.
    victim = int(book.read_text().splitlines()[-1].split()[2])
    assert victim in p.workers()
    held = {
        t.task_id
        for pl in backend.pools()
        for w in pl.workers
        if w.pid == victim
        for t in w.threads
        if t.task_id
    }
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    if held:  # resolved within a second or so of the death, not after lease_ttl
        wait_until(
            lambda: all(
                len(backend.get_result(i).worker_ids) >= 2
                or backend.get_result(i).status != RUNNING
                for i in held
            ),
            5,
        )
        assert time.monotonic() - killed_at < 2.0
    assert p.wait(60) == 0, p.tail()
    report = ledger.check(backend, ids, book)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == 30
    assert report.explained_duplicates >= 1  # the killed worker's task ran again
    assert "killed by signal SIGKILL" in p.log()


def test_whole_pool_killed_is_resolved_by_another_pool_within_heartbeat_ttl(
    pool, backend, tmp_path
):
    options = {"heartbeat_interval": 0.3, "heartbeat_ttl": 1.5, "lease_ttl": 3600}
    book = tmp_path / "ledger"
    ids = [tasks.ledger_nap.enqueue(str(book), 2.0).id for _ in range(2)]
    first = pool("--processes", "1", "--threads", "2", options=options)
    wait_until(lambda: running_count(backend) == 2, 20)
    members = session_members(first.pid)
    for pid in members:  # the master and every worker at once: a dead host
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    second = pool("--processes", "1", "--threads", "2", "--exit-empty", options=options)
    wait_until(lambda: all(len(backend.get_result(i).worker_ids) == 2 for i in ids), 20)
    resolved_after = time.monotonic() - killed_at
    assert resolved_after < 8.0, resolved_after  # heartbeat_ttl + start-up, not lease_ttl
    assert second.wait(60) == 0, second.tail()
    report = ledger.check(backend, ids, book)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == 2
    for task_id in ids:
        result = backend.get_result(task_id)
        assert result.errors[0].exception_class_path == "threadmill.exceptions.WorkerLost"
        assert "stopped sending heartbeats" in result.errors[0].traceback


def test_poison_tasks_fail_precisely_and_the_pool_keeps_draining(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    normal = [tasks.ledger_nap.enqueue(str(book)).id for _ in range(40)]
    poison = {
        "segfault": tasks.segfault.enqueue().id,
        "exit": tasks.exit_hard.enqueue(3).id,
        "loop": tasks.spin_forever.enqueue().id,
        "hog": tasks.hog.enqueue().id,
        "child": tasks.stubborn_child.enqueue().id,
    }
    normal += [tasks.ledger_nap.enqueue(str(book)).id for _ in range(40)]
    options = {"max_attempts": 1, "lease_ttl": 2, "heartbeat_interval": 0.3, "heartbeat_ttl": 1.0}
    p = pool(
        "--processes", "2", "--threads", "1", "--exit-empty", "--max-memory", "300", options=options
    )
    master = p.pid
    assert p.wait(120) == 0, p.tail()
    report = ledger.check(backend, normal, book)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == len(normal)
    expected = {
        "segfault": ("threadmill.exceptions.WorkerLost", "killed by signal SIGSEGV"),
        "exit": ("threadmill.exceptions.WorkerLost", "exited with code 3"),
        "loop": ("threadmill.exceptions.AcknowledgementTimeout", "lease_ttl"),
        "hog": ("threadmill.exceptions.WorkerLost", "memory limit exceeded"),
    }
    for name, (error, text) in expected.items():
        result = backend.get_result(poison[name])
        assert result.status == FAILED, name
        assert result.errors[-1].exception_class_path == error, name
        assert text in result.errors[-1].traceback, (name, result.errors[-1].traceback)
    assert backend.get_result(poison["child"]).status == SUCCESSFUL
    assert p.pid == master
    assert "past lease_ttl" in p.log()  # the stuck thread's process was replaced
    assert session_members(master) == []  # the SIGTERM-ignoring child did not survive


def test_graceful_timeout_kills_what_does_not_finish_and_requeues_it(pool, backend):
    long = tasks.nap.enqueue(60)
    p = pool("--processes", "1", "--threads", "1", "--graceful-timeout", "1")
    wait_until(lambda: backend.get_result(long.id).status == RUNNING, 20)
    p.send(signal.SIGTERM)
    started = time.monotonic()
    assert p.wait(20) == 0, p.tail()
    assert time.monotonic() - started < 6
    result = backend.get_result(long.id)
    assert result.status == READY  # never left RUNNING
    assert result.errors[-1].exception_class_path == "threadmill.exceptions.WorkerLost"
    assert "graceful timeout" in result.errors[-1].traceback
