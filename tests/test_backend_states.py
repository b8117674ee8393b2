"""The worker API's state transitions: order, leases, fencing, expiry, resolution."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from tests import tasks
from tests.reports import pool_report
from threadmill.backends.records import AckOutcome, TaskState

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster

ALL = ["default", "high", "low"]
_tokens = iter(range(10**9))


def token(worker="w1") -> str:
    return f"{worker}/{next(_tokens)}"


def run_one(backend, worker="w1", *, succeeded=True, value="null", queues=ALL):
    lease = backend.acquire(worker, queues, token(worker))
    assert lease is not None
    if not succeeded:
        value = json.dumps({"exception_class_path": "builtins.ValueError", "traceback": "tb"})
    ack = backend.acknowledge(lease, worker, succeeded=succeeded, value_json=value)
    assert ack.outcome == AckOutcome.OK
    return lease


def drain_order(backend, queues=ALL) -> list[str]:
    order = []
    while (lease := backend.acquire("w1", queues, token())) is not None:
        order.append(lease.task_id)
        backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    return order


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_priority_first_then_fifo_across_queues(backend):
    low1 = tasks.noop.using(priority=-5).enqueue()
    mid1 = tasks.noop.enqueue()
    high1 = tasks.noop.using(priority=50, queue_name="high").enqueue()
    mid2 = tasks.noop.using(queue_name="low").enqueue()
    high2 = tasks.noop.using(priority=50).enqueue()
    mid3 = tasks.noop.enqueue()
    assert drain_order(backend) == [r.id for r in (high1, high2, mid1, mid2, mid3, low1)]


def test_priority_first_then_fifo_in_the_one_queue_listened_to(backend):
    # A worker listening to one queue takes its head in one command (ZPOPMIN), not by
    # comparing the heads of several queues: the order must be the same.
    low = tasks.noop.using(priority=-5).enqueue()
    mid1 = tasks.noop.enqueue()
    tasks.noop.using(priority=90, queue_name="high").enqueue()  # not listened to
    high = tasks.noop.using(priority=50).enqueue()
    mid2 = tasks.noop.enqueue()
    assert drain_order(backend, ["default"]) == [r.id for r in (high, mid1, mid2, low)]
    assert backend.queue_stats(["high"])[0].ready == 1


def test_acquire_only_listened_queues(backend):
    tasks.noop.using(queue_name="low").enqueue()
    assert backend.acquire("w1", ["default", "high"], token()) is None
    assert backend.acquire("w1", ["low"], token()) is not None


def test_lease_carries_everything_to_run(backend):
    result = tasks.add.using(priority=7).enqueue(1, b=2)
    lease = backend.acquire("w1", ALL, "tok-1")
    assert lease.task_id == result.id
    assert lease.token == "tok-1"
    assert lease.path == "tests.tasks.add"
    assert (lease.queue, lease.priority, lease.attempt) == ("default", 7, 1)
    assert json.loads(lease.args_json) == [1]
    assert json.loads(lease.kwargs_json) == {"b": 2}
    assert json.loads(lease.worker_ids_json) == ["w1"]
    assert lease.enqueued_at == result.enqueued_at
    assert lease.started_at == lease.acquired_at
    running = backend.get_result(result.id)
    assert running.status == TaskResultStatus.RUNNING
    assert running.worker_ids == ["w1"]


def test_acquire_is_idempotent_for_a_retried_token(backend):
    first = tasks.noop.enqueue()
    tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, "same")
    retried = backend.acquire("w1", ALL, "same")
    assert retried.task_id == lease.task_id == first.id
    assert backend.queue_stats(["default"])[0].running == 1
    assert backend.get_result(first.id).worker_ids == ["w1"]


def test_acknowledge_stores_result_once_and_retry_says_already_done(backend):
    result = tasks.add.enqueue(1, 2)
    lease = backend.acquire("w1", ALL, token())
    first = backend.acknowledge(lease, "w1", succeeded=True, value_json="3")
    retry = backend.acknowledge(lease, "w1", succeeded=True, value_json="3")
    assert (first.outcome, retry.outcome) == (AckOutcome.OK, AckOutcome.ALREADY_DONE)
    done = backend.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 3
    assert done.finished_at == first.finished_at
    stats = backend.queue_stats(["default"])[0]
    assert (stats.running, stats.successful, stats.successful_total) == (0, 1, 1)


def test_failed_acknowledge_records_the_error(backend):
    result = tasks.fail.enqueue()
    run_one(backend, succeeded=False)
    done = backend.get_result(result.id)
    assert done.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in done.errors] == ["builtins.ValueError"]
    assert backend.queue_stats(["default"])[0].failed == 1


def test_acknowledge_and_acquire_next_in_one_call(backend):
    one, two = tasks.noop.enqueue(), tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, token())
    ack = backend.acknowledge(
        lease, "w1", succeeded=True, value_json="null", next_token=token(), queues=ALL
    )
    assert ack.outcome == AckOutcome.OK
    assert (lease.task_id, ack.next_lease.task_id) == (one.id, two.id)
    last = backend.acknowledge(
        ack.next_lease, "w1", succeeded=True, value_json="null", next_token=token(), queues=ALL
    )
    assert last.outcome == AckOutcome.OK
    assert last.next_lease is None


@pytest.mark.parametrize("queues", [ALL, ["default"]], ids=["several-queues", "one-queue"])
def test_a_retried_acknowledgement_returns_the_lease_it_made(backend, queues):
    # The reply of "acknowledge and lease the next" can be lost after Redis ran it: the
    # retry (same tokens) must hand back the task the first call leased, not lease another.
    one, two, three = (tasks.noop.enqueue() for _ in range(3))
    lease = backend.acquire("w1", queues, token())
    next_token = token()
    first = backend.acknowledge(
        lease, "w1", succeeded=True, value_json="null", next_token=next_token, queues=queues
    )
    retry = backend.acknowledge(
        lease, "w1", succeeded=True, value_json="null", next_token=next_token, queues=queues
    )
    assert (first.outcome, retry.outcome) == (AckOutcome.OK, AckOutcome.ALREADY_DONE)
    assert first.next_lease.task_id == retry.next_lease.task_id == two.id
    assert backend.get_result(three.id).status == TaskResultStatus.READY
    assert backend.get_result(one.id).status == TaskResultStatus.SUCCESSFUL


def test_expired_lease_fails_with_acknowledgement_timeout_and_late_ack_is_refused(
    make_backend, redis_server
):
    backend = make_backend(redis_server.url, {"lease_ttl": 0.05})
    result = tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, token())
    time.sleep(0.1)  # let the lease run out: that is the behaviour under test
    report = backend.maintain(ALL)
    assert report.expired == [result.id]
    failed = backend.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[-1].exception_class_path == (
        "threadmill.exceptions.AcknowledgementTimeout"
    )
    late = backend.acknowledge(lease, "w1", succeeded=True, value_json="1")
    assert late.outcome == AckOutcome.LEASE_LOST
    assert backend.get_result(result.id).status == TaskResultStatus.FAILED


def test_zombie_ack_after_requeue_cannot_overwrite_the_new_holders_result(backend):
    result = tasks.noop.enqueue()
    old = backend.acquire("zombie", ALL, token("zombie"))
    assert backend.resolve_worker("zombie", "test: host lost") == {result.id: "requeued"}
    new = backend.acquire("w2", ALL, token("w2"))
    assert new.task_id == result.id
    assert new.attempt == 2
    stale = backend.acknowledge(old, "zombie", succeeded=True, value_json='"zombie"')
    assert stale.outcome == AckOutcome.LEASE_LOST
    fresh = backend.acknowledge(new, "w2", succeeded=True, value_json='"w2"')
    assert fresh.outcome == AckOutcome.OK
    again = backend.acknowledge(old, "zombie", succeeded=True, value_json='"zombie"')
    assert again.outcome == AckOutcome.LEASE_LOST
    done = backend.get_result(result.id)
    assert done.return_value == "w2"
    assert done.worker_ids == ["zombie", "w2"]
    assert done.errors[0].exception_class_path == "threadmill.exceptions.WorkerLost"


def test_lost_worker_requeues_until_max_attempts_then_fails(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"max_attempts": 2})
    result = tasks.noop.enqueue()
    backend.acquire("w1", ALL, token("w1"))
    assert backend.resolve_worker("w1", "killed by signal SIGKILL") == {result.id: "requeued"}
    backend.acquire("w2", ALL, token("w2"))
    assert backend.resolve_worker("w2", "killed by signal SIGKILL") == {result.id: "failed"}
    failed = backend.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in failed.errors] == [
        "threadmill.exceptions.WorkerLost"
    ] * 2
    assert "SIGKILL" in failed.errors[-1].traceback
    assert backend.resolve_worker("w2", "again") == {}


def test_dead_pool_workers_are_reaped_after_heartbeat_ttl(make_backend, redis_server):
    # heartbeat_ttl 1 s, not less: the heartbeat must still be fresh at the first maintain,
    # which a loaded CI machine (a cluster's first calls) can delay by a few tenths of a
    # second. The lease and a first maintain come before the heartbeat, so that one warm
    # call follows it.
    backend = make_backend(redis_server.url, {"heartbeat_interval": 0.1, "heartbeat_ttl": 1.0})
    result = tasks.noop.enqueue()
    backend.acquire("w1", ALL, token("w1"))
    backend.maintain(ALL)  # its scripts loaded and its connections open
    backend.heartbeat("pool-a", ["w1"], pool_report({"host": "a"}))
    assert backend.maintain(ALL).reaped_workers == {}
    wait_until(lambda: backend.maintain(ALL).reaped_workers == {"w1": 1}, timeout=10)
    assert backend.get_result(result.id).status == TaskResultStatus.READY
    assert backend.maintain(ALL, reap=True).reaped_workers == {}


def test_a_stale_maintenance_call_neither_reaps_nor_expires(make_backend, redis_server):
    """A call Redis runs after its reap_until (it waited out a stall) changes nothing."""
    backend = make_backend(
        redis_server.url, {"heartbeat_interval": 0.05, "heartbeat_ttl": 0.1, "lease_ttl": 0.1}
    )
    tasks.noop.enqueue()
    backend.heartbeat("pool-a", ["w1"], pool_report({"host": "a"}))
    backend.acquire("w1", ALL, token("w1"))
    time.sleep(0.15)  # heartbeat and lease expire: the behaviour under test
    stale = time.time() - 1.0  # on Redis's clock (same host): already past
    report = backend.maintain(ALL, reap_until=stale)
    assert (report.reaped_workers, report.expired) == ({}, [])
    assert backend.queue_stats(["default"])[0].running == 1
    fresh = backend.maintain(ALL, reap_until=time.time() + 5)
    assert fresh.reaped_workers == {"w1": 1} or fresh.expired


def test_maintain_without_reap_leaves_dead_workers_alone(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"heartbeat_interval": 0.05, "heartbeat_ttl": 0.1})
    tasks.noop.enqueue()
    backend.acquire("w1", ALL, token("w1"))
    time.sleep(0.15)  # the registry entry expires: the behaviour under test
    assert backend.maintain(ALL, reap=False).reaped_workers == {}
    assert backend.queue_stats(["default"])[0].running == 1


def test_deferred_task_runs_when_due_never_before(backend):
    result = tasks.noop.using(run_after=timezone.now() + timedelta(seconds=1.5)).enqueue()
    assert backend.acquire("w1", ALL, token()) is None
    lease = None

    def acquired():
        nonlocal lease
        lease = backend.acquire("w1", ALL, token())
        return lease is not None

    wait_until(acquired)
    assert lease.task_id == result.id
    assert lease.acquired_at >= lease.run_after


def test_broker_promotes_due_tasks_in_priority_order(backend):
    soon = timezone.now() + timedelta(seconds=1)  # long enough to enqueue both deferred
    low = tasks.noop.using(run_after=soon, priority=-1).enqueue()
    high = tasks.noop.using(run_after=soon, priority=9).enqueue()
    wait_until(lambda: backend.maintain(ALL).promoted == 2)
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.deferred) == (2, 0)
    assert drain_order(backend) == [high.id, low.id]


def test_the_due_index_follows_each_queues_earliest_deferred_task(backend, rclient):
    now = timezone.now()
    later = tasks.noop.using(run_after=now + timedelta(hours=2)).enqueue()
    # 2 s, not less: on a loaded CI machine the first cluster calls can take longer than a
    # short delay, and a task whose time has passed is enqueued READY, not deferred.
    sooner = tasks.noop.using(run_after=now + timedelta(seconds=2)).enqueue()
    tasks.noop.using(queue_name="high", run_after=now + timedelta(hours=1)).enqueue()
    due = dict(rclient.zrange(backend.keys.due, 0, -1, withscores=True))
    assert due["default"] == pytest.approx((now.timestamp() + 2) * 1000, abs=2)
    assert set(due) == {"default", "high"}
    wait_until(lambda: backend.maintain(ALL).promoted == 1, timeout=10)  # only the due task
    assert backend.get_task(sooner.id).state == TaskState.READY
    due = dict(rclient.zrange(backend.keys.due, 0, -1, withscores=True))
    assert due["default"] == pytest.approx((now.timestamp() + 7200) * 1000, abs=2)
    assert backend.purge([later.id]) == {later.id: "purged"}
    rclient.zadd(backend.keys.due, {"default": 0})  # stale after the purge: it heals
    assert backend.maintain(ALL).promoted == 0
    assert set(rclient.zrange(backend.keys.due, 0, -1)) == {"high"}


def test_results_expire_after_result_ttl(make_backend, redis_server):
    # result_ttl 1 s, not less: the result must still be there when it is read right after
    # the acknowledgement, on a loaded CI machine too.
    backend = make_backend(redis_server.url, {"result_ttl": 1.0})
    result = tasks.noop.enqueue()
    run_one(backend)
    assert backend.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    wait_until(lambda: backend.get_task(result.id) is None, timeout=10)  # Redis expired it
    from django.tasks.exceptions import TaskResultDoesNotExist

    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(result.id)
    wait_until(
        lambda: backend.maintain(ALL).trimmed or backend.queue_stats(["default"])[0].successful == 0
    )
    assert backend.queue_stats(["default"])[0].successful == 0


def test_extend_lease_is_fenced(backend):
    tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, token())
    assert backend.extend_lease(lease, 60) == AckOutcome.OK
    record = backend.get_task(lease.task_id)
    assert record.lease_deadline > timezone.now() + timedelta(seconds=50)
    backend.resolve_worker("w1", "gone")
    assert backend.extend_lease(lease, 60) == AckOutcome.LEASE_LOST


def test_a_parked_thread_is_handed_the_next_task_within_milliseconds(backend):
    assert backend.park("w1", ALL, "t-park", "w1/0") is None  # nothing ready: parked
    got = []

    def waiter():
        got.append((backend.wait_for_lease("w1/0", 5.0), time.monotonic()))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)  # let the waiter block before the enqueue: the case under test
    enqueued_at = time.monotonic()
    result = tasks.add.enqueue(1, 2)
    thread.join(5)
    lease, handed_at = got[0]
    assert (lease.task_id, lease.token) == (result.id, "t-park")  # leased by the enqueue
    # Within a second of the enqueue: counted from the enqueue, not from the waiter's start
    # (the sleep and a slow thread start on a loaded machine would eat into the second).
    assert handed_at - enqueued_at < 1.0
    assert backend.get_result(result.id).status == TaskResultStatus.RUNNING
    assert backend.acknowledge(lease, "w1", succeeded=True, value_json="3").outcome == "OK"


def test_park_takes_ready_work_at_once_and_tasks_go_to_the_longest_parked(backend):
    first = tasks.noop.enqueue()
    lease = backend.park("w1", ALL, token(), "w1/0")
    assert lease.task_id == first.id  # work was ready: leased, not parked
    assert backend.park("w1", ALL, "a", "w1/1") is None
    assert backend.park("w2", ALL, "b", "w2/0") is None
    one, two = tasks.noop.enqueue(), tasks.noop.enqueue()
    assert backend.wait_for_lease("w1/1", 1).task_id == one.id
    assert backend.wait_for_lease("w2/0", 1).task_id == two.id


def test_unpark_returns_a_task_whose_delivery_was_lost(backend, rclient):
    assert backend.park("w1", ["default"], "t1", "w1/0") is None
    result = tasks.noop.enqueue()
    rclient.delete(backend.keys.mailbox("w1/0"))  # the blocking pop's reply was lost
    lease = backend.unpark("w1", "w1/0", "t1")
    assert lease.task_id == result.id
    assert backend.park("w1", ["default"], "t2", "w1/0") is None
    assert backend.unpark("w1", "w1/0", "t2") is None  # still parked: simply unparked
    later = tasks.noop.enqueue()  # no longer parked: it waits in the queue
    assert backend.queue_stats(["default"])[0].ready == 1
    assert backend.acquire("w1", ["default"], "t3").task_id == later.id


def test_a_lost_worker_is_unparked_before_its_tasks_are_requeued(backend):
    held = tasks.noop.enqueue()
    backend.acquire("w1", ALL, "t1")
    assert backend.park("w1", ALL, "t2", "w1/1") is None
    backend.resolve_worker("w1", "killed by signal SIGKILL")
    record = backend.get_task(held.id)
    assert record.state == TaskState.READY  # requeued, not handed back to the dead worker
    assert backend.wait_for_lease("w1/1", 0.2) is None


def test_request_stop_wakes_a_parked_thread(backend):
    assert backend.park("w1", ALL, "t1", "w1/0") is None
    backend.request_stop(["w1/0"])
    assert backend.wait_for_lease("w1/0", 1) is None
    assert backend.unpark("w1", "w1/0", "t1") is None


def test_state_of_a_task_through_its_life(backend):
    result = tasks.noop.enqueue()
    assert backend.get_task(result.id).state == TaskState.READY
    lease = backend.acquire("w1", ALL, token())
    assert backend.get_task(result.id).state == TaskState.RUNNING
    backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    record = backend.get_task(result.id)
    assert record.state == TaskState.SUCCESSFUL
    assert record.worker == "w1"
    assert record.attempts == 1
