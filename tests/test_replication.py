"""Replica acknowledgement (`replica_acks`: Redis WAIT after each enqueue, lease and
acknowledgement) and the server-side `min-replicas-to-write`, on a real primary and
replica."""

from __future__ import annotations

import time

import pytest
from django.tasks import TaskResultStatus

from tests import tasks
from tests.faults.proxy import FaultProxy
from tests.pool_helpers import wait_until
from threadmill.backends.records import AckOutcome
from threadmill.exceptions import BackendUnavailable, ReplicationTimeout

ACKS = {"replica_acks": 1, "replica_ack_timeout": 0.3, "retry_attempts": 2}


def waits(server) -> int:
    with server.client() as c:
        return int(c.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


def replica_online(primary) -> bool:
    with primary.client() as c:
        return c.info("replication").get("slave0", {}).get("state") == "online"


@pytest.fixture
def primary_and_replica(disposable_redis):
    primary = disposable_redis(extra=["--repl-diskless-sync-delay", "0"])
    replica = disposable_redis(extra=["--replicaof", "127.0.0.1", str(primary.port)])
    wait_until(lambda: replica_online(primary), 10)
    with primary.client() as c:  # the replica acknowledges writes: ready
        c.set("warm-up", 1)
        assert c.wait(1, 5000) == 1
        c.delete("warm-up")
    return primary, replica


def test_each_write_returns_once_the_replica_has_it(primary_and_replica, make_backend):
    primary, replica = primary_and_replica
    backend = make_backend(primary.url, ACKS)
    for script in backend.store.scripts.lua.values():  # no NOSCRIPT detour: count WAITs exactly
        backend.store.client.script_load(script.source)
    before = waits(primary)
    result = tasks.add.enqueue(1, 2)
    with replica.client() as r:
        assert r.hget(backend.keys.task(result.id), "status") == "READY"  # already there
        many = backend.enqueue_many(tasks.add, [((i, i), {}) for i in range(600)])  # 2 chunks
        assert r.hget(backend.keys.task(many[-1].id), "status") == "READY"
        lease = backend.acquire("w1", ["default"], "t1")
        assert r.hget(backend.keys.task(lease.task_id), "status") == "RUNNING"
        ack = backend.acknowledge(lease, "w1", succeeded=True, value_json="3")
        assert ack.outcome == AckOutcome.OK
        assert r.hget(backend.keys.task(result.id), "status") == "SUCCESSFUL"
    assert waits(primary) == before + 4  # enqueue, the enqueue_many pipeline, lease, ack
    assert backend.check() == []
    assert backend.server_info().connected_replicas == 1


def test_without_enough_replicas_calls_raise_replication_timeout(disposable_redis, make_backend):
    primary = disposable_redis()
    backend = make_backend(primary.url, ACKS)
    started = time.monotonic()
    with pytest.raises(ReplicationTimeout, match="only 0 of 1 replica") as caught:
        tasks.add.enqueue(1, 2)
    assert time.monotonic() - started < 2  # one replica_ack_timeout, not a retry loop
    assert (caught.value.acknowledged, caught.value.required) == (0, 1)
    assert isinstance(caught.value, BackendUnavailable)  # callers that retry outages retry it
    [stored] = backend.list_tasks("default", "READY", 0, 10).items  # it is on the primary
    assert stored.path == "tests.tasks.add"
    with pytest.raises(ReplicationTimeout):
        backend.enqueue_many(tasks.add, [((1, 1), {})] * 3)
    assert "threadmill.W005" in {m.id for m in backend.check()}
    assert any("replica_acks is 1" in w for w in backend.server_info().warnings)


def test_an_acknowledgement_that_timed_out_is_retried_once_the_replica_is_back(
    primary_and_replica, make_backend
):
    primary, replica = primary_and_replica
    backend = make_backend(primary.url, ACKS)
    result = tasks.add.enqueue(2, 3)
    lease = backend.acquire("w1", ["default"], "t1")
    replica.pause()
    try:
        with pytest.raises(ReplicationTimeout):
            backend.acknowledge(lease, "w1", succeeded=True, value_json="5")
    finally:
        replica.resume()
    ack = backend.acknowledge(lease, "w1", succeeded=True, value_json="5")
    assert ack.outcome == AckOutcome.ALREADY_DONE  # stored once; now on the replica too
    done = backend.get_result(result.id)
    assert (done.status, done.return_value) == (TaskResultStatus.SUCCESSFUL, 5)


def test_a_call_retried_on_a_new_connection_still_waits_for_its_first_write(
    primary_and_replica, make_backend
):
    """The first attempt writes the task and loses its connection; the retry finds the task
    there and writes nothing itself. Its WAIT must still cover the first attempt's write.
    (Redis 7.0 already starts a new connection's WAIT offset at the primary's current one,
    measured here: the test passes without the fence too; the fence write before a retried
    call's WAIT keeps this true on servers that count only the connection's own writes.)"""
    primary, replica = primary_and_replica
    proxy = FaultProxy(primary.port)
    try:
        backend = make_backend(proxy.url, ACKS)
        tasks.noop.enqueue()  # connection and script cache warm
        replica.pause()
        proxy.mode = "cut_reply"  # the enqueue reaches Redis, its reply never comes back
        try:
            with pytest.raises(ReplicationTimeout):
                tasks.add.enqueue(1, 1)
        finally:
            replica.resume()
        assert proxy.cut == 1
        assert len(backend.list_tasks("default", "READY", 0, 10).items) == 2
    finally:
        proxy.close()


def test_min_replicas_to_write_refuses_writes_cleanly(disposable_redis, make_backend):
    primary = disposable_redis(extra=["--min-replicas-to-write", "1"])
    backend = make_backend(primary.url, {"retry_attempts": 0})
    with pytest.raises(BackendUnavailable, match="min-replicas-to-write"):
        tasks.add.enqueue(1, 2)
    with pytest.raises(BackendUnavailable, match="min-replicas-to-write"):
        backend.acquire("w1", ["default"], "t1")  # a worker retries this, it does not crash
    with primary.client() as c:
        assert c.dbsize() == 0  # nothing was written
