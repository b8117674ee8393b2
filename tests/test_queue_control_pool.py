"""Queue pauses, run-now and pool control requests with real pool processes: a paused
queue's tasks wait (others run; a running task finishes; the pause outlives a pool restart)
and all run after resume; pausing and resuming while a pool drains loses and duplicates
nothing; a quiet pool takes nothing new until resumed; add / remove a worker process; a
stop request ends the pool gracefully (exit 0)."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from tests import tasks
from tests.pool_helpers import wait_until
from threadmill.exceptions import UnknownPool

SUCCESSFUL, RUNNING, READY = (
    TaskResultStatus.SUCCESSFUL,
    TaskResultStatus.RUNNING,
    TaskResultStatus.READY,
)
FAST = {"broker_interval": 0.2, "heartbeat_interval": 0.5, "heartbeat_ttl": 5}


def ledger_ids(path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def pool_of(backend, p):
    """The pool status of pool process p, once it has reported."""
    return wait_until(
        lambda: next((s for s in backend.pools() if s.report.pid == p.pid), None),
        15,
        message=lambda: f"pool {p.pid} reported; log:\n{p.tail()}",
    )


def test_a_paused_queue_waits_while_others_run_and_all_of_it_runs_after_resume(
    pool, backend, tmp_path
):
    ledger = tmp_path / "ledger"
    other = tmp_path / "other"
    p = pool("--processes", "1", "--threads", "2", options=FAST)
    p.wait_for_workers(1)
    backend.pause_queue("default")
    paused = [tasks.ledger_nap.enqueue(str(ledger)) for _ in range(20)]
    flowing = tasks.ledger_nap.using(queue_name="high").enqueue(str(other))
    wait_until(lambda: backend.get_result(flowing.id).status == SUCCESSFUL, 15, message=p.tail)
    time.sleep(2.0)  # the claim under test: nothing of a paused queue runs for 2 s
    assert ledger_ids(ledger) == []
    assert {backend.get_result(r.id).status for r in paused} == {READY}
    assert backend.queue_stats(["default"])[0].paused
    handed_at = time.monotonic()
    backend.resume_queue("default")
    wait_until(lambda: len(ledger_ids(ledger)) == 20, 15, message=p.tail)
    assert time.monotonic() - handed_at < 5  # parked threads were woken: no poll interval
    assert sorted(ledger_ids(ledger)) == sorted(r.id for r in paused)


def test_a_running_task_finishes_while_its_queue_is_paused(pool, backend):
    p = pool("--processes", "1", "--threads", "1", options=FAST)
    long = tasks.nap.enqueue(1.5, "done")
    wait_until(lambda: backend.get_result(long.id).status == RUNNING, 15, message=p.tail)
    backend.pause_queue("default")
    queued = tasks.noop.enqueue()
    wait_until(lambda: backend.get_result(long.id).status == SUCCESSFUL, 15, message=p.tail)
    time.sleep(0.5)  # the acknowledgement's next lease skipped the paused queue
    assert backend.get_result(queued.id).status == READY


def test_a_pause_survives_a_pool_restart(pool, backend, tmp_path):
    ledger = tmp_path / "ledger"
    backend.pause_queue("default")
    first = pool("--processes", "1", "--threads", "1", options=FAST)
    first.wait_for_workers(1)
    results = [tasks.ledger_nap.enqueue(str(ledger)) for _ in range(3)]
    first.send(signal.SIGTERM)
    assert first.wait(20) == 0
    second = pool("--processes", "1", "--threads", "1", options=FAST)
    pool_of(backend, second)
    time.sleep(1.0)  # a new pool reads the pause from Redis: still nothing runs
    assert ledger_ids(ledger) == []
    backend.resume_queue("default")
    wait_until(lambda: len(ledger_ids(ledger)) == 3, 15, message=second.tail)
    assert sorted(ledger_ids(ledger)) == sorted(r.id for r in results)


def test_pausing_and_resuming_while_a_pool_drains_loses_and_duplicates_nothing(
    pool, backend, tmp_path
):
    ledger = tmp_path / "ledger"
    p = pool("--processes", "2", "--threads", "3", options=FAST)
    p.wait_for_workers(2)
    pool_of(backend, p)
    calls = [((str(ledger),), {"seconds": 0.02}) for _ in range(300)]
    results = backend.enqueue_many(tasks.ledger_nap, calls)
    flips = 0
    while len(ledger_ids(ledger)) < 250 and flips < 200:  # flip while threads lease and park
        backend.pause_queue("default")
        time.sleep(0.02)
        backend.resume_queue("default")
        time.sleep(0.02)
        flips += 1
    assert flips >= 5, "the pool drained before the pause was flipped"
    wait_until(lambda: len(ledger_ids(ledger)) >= 300, 60, message=p.tail)
    wait_until(lambda: backend.queue_stats(["default"])[0].successful == 300, 15, message=p.tail)
    counts = Counter(ledger_ids(ledger))
    assert set(counts) == {r.id for r in results}
    assert max(counts.values()) == 1  # no task ran twice


def test_a_pause_stops_new_starts_at_once_with_the_default_broker_interval(
    pool, backend, rclient, tmp_path
):
    """The pause is read by the lease scripts, not by the broker: once pause_queue() has
    returned, no task of the queue starts (by Redis's clock), whatever broker_interval is."""
    ledger = tmp_path / "ledger"
    p = pool("--processes", "1", "--threads", "4")  # default options: broker_interval 1 s
    p.wait_for_workers(1)
    results = backend.enqueue_many(tasks.ledger_nap, [((str(ledger),), {"seconds": 0.05})] * 400)
    wait_until(lambda: len(ledger_ids(ledger)) >= 20, 30, message=p.tail)
    backend.pause_queue("default")
    seconds, micros = rclient.time()
    paused_at = seconds + micros / 1e6
    time.sleep(1.5)  # what might still start would have started by now
    started = [backend.get_task(r.id).started_at for r in results]
    late = [t for t in started if t is not None and t.timestamp() > paused_at]
    assert late == []
    assert backend.queue_stats(["default"])[0].ready > 0  # the rest waits
    backend.resume_queue("default")
    wait_until(lambda: len(ledger_ids(ledger)) >= 400, 60, message=p.tail)


def test_run_now_starts_a_deferred_task_at_once(pool, backend):
    p = pool("--processes", "1", "--threads", "1", options=FAST)
    pool_of(backend, p)
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    assert backend.run_now([later.id]) == {later.id: "moved"}
    wait_until(lambda: backend.get_result(later.id).status == SUCCESSFUL, 10, message=p.tail)


def test_a_quiet_pool_takes_nothing_new_and_drains_after_resume(pool, backend, tmp_path):
    ledger = tmp_path / "ledger"
    p = pool("--processes", "1", "--threads", "2", options=FAST)
    pool_id = pool_of(backend, p).pool_id
    long = tasks.nap.enqueue(1.5, "held")
    wait_until(lambda: backend.get_result(long.id).status == RUNNING, 15, message=p.tail)
    backend.request_pool(pool_id, "quiet")
    wait_until(lambda: pool_of(backend, p).report.quiet, 15, message=p.tail)
    queued = [tasks.ledger_nap.enqueue(str(ledger)) for _ in range(5)]
    wait_until(lambda: backend.get_result(long.id).status == SUCCESSFUL, 15, message=p.tail)
    time.sleep(1.0)  # quiet: the finished thread and the parked one take nothing
    assert ledger_ids(ledger) == []
    backend.request_pool(pool_id, "resume")
    wait_until(lambda: len(ledger_ids(ledger)) == 5, 15, message=p.tail)
    assert sorted(ledger_ids(ledger)) == sorted(r.id for r in queued)
    wait_until(lambda: not pool_of(backend, p).report.quiet, 15, message=p.tail)


def test_add_and_remove_a_worker_process_then_stop_gracefully(pool, backend):
    p = pool("--processes", "1", "--threads", "1", options=FAST)
    p.wait_for_workers(1)
    pool_id = pool_of(backend, p).pool_id
    backend.request_pool(pool_id, "add-worker")
    p.wait_for_workers(2)
    wait_until(lambda: pool_of(backend, p).report.processes == 2, 15, message=p.tail)
    backend.request_pool(pool_id, "remove-worker")
    p.wait_for_workers(1)
    running = tasks.nap.enqueue(1.0, "finished")
    wait_until(lambda: backend.get_result(running.id).status == RUNNING, 15, message=p.tail)
    backend.request_pool(pool_id, "stop")
    assert p.wait(20) == 0, p.tail()
    assert backend.get_result(running.id).status == SUCCESSFUL  # graceful: it finished
    with pytest.raises(UnknownPool, match="No live pool"):
        backend.request_pool(pool_id, "quiet")


def test_a_request_for_an_unknown_pool_or_action_is_refused(backend):
    with pytest.raises(UnknownPool, match="No live pool 'nope'"):
        backend.request_pool("nope", "stop")
    with pytest.raises(ValueError, match="Unknown pool action 'explode'"):
        backend.request_pool("nope", "explode")


def test_an_exit_empty_pool_counts_a_paused_queue_as_empty(pool, backend):
    backend.pause_queue("default")
    kept = [tasks.noop.enqueue() for _ in range(2)]
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", options=FAST)
    assert p.wait(30) == 0, p.tail()
    assert {backend.get_result(r.id).status for r in kept} == {READY}
