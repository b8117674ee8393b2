"""Pausing a queue and running a deferred task now, at the backend: which scripts skip a
paused queue (acquire, park, the hand-off to parked threads, the acknowledgement's next
lease), what resume hands out at once, and run_now's moves and refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from tests import tasks
from threadmill.backends.records import TaskState

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster

ALL = ["default", "high", "low"]
READY, RUNNING = TaskResultStatus.READY, TaskResultStatus.RUNNING


def test_a_paused_queue_keeps_its_tasks_and_nobody_leases_them(backend):
    assert backend.pause_queue("default") is True
    assert backend.pause_queue("default") is False  # already paused
    queued = [tasks.noop.enqueue() for _ in range(3)]  # enqueues are accepted
    urgent = tasks.urgent.enqueue(1)  # queue "high" is not paused
    assert backend.acquire("w1", ["default"], "t1") is None
    lease = backend.acquire("w1", ALL, "t2")
    assert lease.task_id == urgent.id
    assert backend.acquire("w1", ALL, "t3") is None
    stats = {s.queue: s for s in backend.queue_stats()}
    assert stats["default"].paused
    assert stats["default"].ready == 3
    assert not stats["high"].paused
    assert backend.paused_queues() == ["default"]
    assert all(backend.get_result(r.id).status == READY for r in queued)


def test_the_next_lease_of_an_acknowledgement_skips_a_paused_queue(backend):
    first, second = tasks.noop.enqueue(), tasks.noop.enqueue()
    lease = backend.acquire("w1", ["default"], "t1")
    assert lease.task_id == first.id
    backend.pause_queue("default")
    ack = backend.acknowledge(
        lease, "w1", succeeded=True, value_json="null", next_token="t2", queues=["default"]
    )
    assert ack.outcome == "OK"
    assert ack.next_lease is None
    assert backend.get_result(second.id).status == READY


def test_an_enqueue_is_not_handed_to_a_thread_parked_on_a_paused_queue(backend):
    assert backend.park("w1", ["default"], "t1", "w1/0") is None
    assert backend.park("w2", ALL, "t2", "w2/0") is None  # several queues, one paused
    backend.pause_queue("default")
    waiting = tasks.noop.enqueue()
    assert backend.wait_for_lease("w1/0", 0.3) is None
    assert backend.wait_for_lease("w2/0", 0.3) is None
    assert backend.get_result(waiting.id).status == READY
    urgent = tasks.urgent.enqueue(2)  # the multi-queue thread still gets other queues' tasks
    assert backend.wait_for_lease("w2/0", 1).task_id == urgent.id
    # Parking again while paused: parked, not leased.
    assert backend.park("w3", ALL, "t3", "w3/0") is None
    assert backend.get_result(waiting.id).status == READY


def test_resume_hands_ready_tasks_to_parked_threads_at_once(backend):
    backend.pause_queue("default")
    queued = [tasks.noop.enqueue() for _ in range(3)]
    for n in range(2):
        assert backend.park(f"w{n}", ["default"], f"t{n}", f"w{n}/0") is None
    assert backend.resume_queue("default") == (True, 2)
    handed = {backend.wait_for_lease(f"w{n}/0", 0.5).task_id for n in range(2)}
    assert handed == {queued[0].id, queued[1].id}  # FIFO, longest parked first
    assert backend.get_result(queued[2].id).status == READY  # no thread left for it
    assert backend.acquire("w9", ["default"], "t9").task_id == queued[2].id
    assert backend.resume_queue("default") == (False, 0)
    assert backend.paused_queues() == []


@pytest.mark.parametrize("name", ["", " default", 7])
def test_pause_refuses_a_bad_queue_name(backend, name):
    with pytest.raises(ValueError, match="not a queue name"):
        backend.pause_queue(name)


def test_run_now_moves_a_deferred_task_to_ready_keeping_its_id(backend):
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    done = tasks.noop.enqueue()
    lease = backend.acquire("w1", ["default"], "t1")
    assert lease.task_id == done.id
    outcomes = backend.run_now([later.id, done.id, "nope"])
    assert outcomes == {later.id: "moved", done.id: "RUNNING", "nope": "missing"}
    record = backend.get_task(later.id)
    assert record.state == TaskState.READY
    assert record.run_after <= timezone.now()
    stats = backend.queue_stats(["default"])[0]
    assert (stats.deferred, stats.ready) == (0, 1)
    assert backend.acquire("w1", ["default"], "t2").task_id == later.id
    assert backend.run_now([later.id]) == {later.id: "RUNNING"}


def test_run_now_takes_a_retrying_task_out_of_the_retrying_index(backend):
    result = tasks.noop.enqueue()
    lease = backend.acquire("w1", ["default"], "t1")
    error = '{"exception_class_path": "builtins.ValueError", "traceback": "x"}'
    backend.acknowledge(lease, "w1", succeeded=False, value_json=error, retry_after=3600)
    assert backend.queue_stats(["default"])[0].retrying == 1
    assert backend.run_now([result.id]) == {result.id: "moved"}
    stats = backend.queue_stats(["default"])[0]
    assert (stats.retrying, stats.deferred, stats.ready) == (0, 0, 1)
    assert backend.park("w2", ["default"], "t2", "w2/0").task_id == result.id
    assert backend.get_task(result.id).attempts == 2
