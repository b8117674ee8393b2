"""Bad input and bad state: corrupt records, a full Redis, system checks, return values."""

from __future__ import annotations

import json

import pytest
from django.tasks import TaskResultStatus

from tests import tasks
from tests.reports import pool_report
from tests.test_backend_states import ALL, drain_order, run_one, token
from threadmill.backends.health import redis_too_old
from threadmill.backends.records import AckOutcome, TaskState
from threadmill.exceptions import CorruptTaskData, RedisOutOfMemory
from threadmill.pool.runner import run_lease

# run_lease calls close_old_connections() around a task, as a worker does: once an earlier
# test has opened the test database connection, that touches it, so these tests need the
# database enabled (pytest-django blocks it otherwise).
runs_tasks = pytest.mark.django_db
pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster


@pytest.mark.parametrize("queues", [ALL, ["default"]], ids=["several-queues", "one-queue"])
def test_corrupt_entries_are_quarantined_and_the_queue_keeps_flowing(backend, rclient, queues):
    keys = backend.keys
    good = [tasks.noop.enqueue().id for _ in range(3)]
    # Put broken entries at the head of the ready queue (score 0 sorts first).
    rclient.zadd(keys.index("default", "ready"), {"ghost": 0, "stringy": 1, "pathless": 2})
    rclient.set(keys.task("stringy"), "not a hash")
    rclient.hset(keys.task("pathless"), mapping={"status": "READY", "queue": "default"})
    assert drain_order(backend, queues) == good
    for bad, reason in [("ghost", "missing"), ("stringy", "string"), ("pathless", "no task path")]:
        record = backend.get_task(bad)
        assert record.state == TaskState.FAILED
        assert record.errors[-1].exception_class_path == "threadmill.exceptions.CorruptTaskData"
        assert reason in record.errors[-1].traceback
    assert backend.get_task("stringy").raw == "not a hash"
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.failed, stats.successful) == (0, 3, 3)
    with pytest.raises(CorruptTaskData, match="cannot be read back"):
        backend.get_result("ghost")


@runs_tasks
def test_garbage_fields_fail_the_task_with_a_clear_error(backend, rclient):
    result = tasks.add.enqueue(1, 2)
    rclient.hset(backend.keys.task(result.id), "args", "not-json")
    lease = backend.acquire("w1", ALL, token())
    outcome = run_lease(lease, "default", type(backend), 1000)
    assert not outcome.succeeded
    assert "CorruptTaskData" in outcome.value_json
    ack = backend.acknowledge(lease, "w1", succeeded=False, value_json=outcome.value_json)
    assert ack.outcome == AckOutcome.OK
    record = backend.get_task(result.id)
    assert record.state == TaskState.FAILED
    assert record.problems == ["args is not valid JSON"]
    assert record.args == "not-json"  # the raw data is kept


@runs_tasks
def test_task_module_removed_between_deploys(backend, rclient):
    result = tasks.add.enqueue(1, 2)
    rclient.hset(backend.keys.task(result.id), "path", "tests.gone_module.add")
    lease = backend.acquire("w1", ALL, token())
    outcome = run_lease(lease, "default", type(backend), 1000)
    assert not outcome.succeeded
    error = json.loads(outcome.value_json)
    assert error["exception_class_path"] == "threadmill.exceptions.TaskNotFound"
    assert "tests.gone_module" in error["traceback"]
    backend.acknowledge(lease, "w1", succeeded=False, value_json=outcome.value_json)
    assert backend.get_task(result.id).args == [1, 2]  # payload preserved for a requeue


@runs_tasks
@pytest.mark.parametrize(
    ("task", "args", "error"),
    [
        (tasks.returns_garbage, (), "threadmill.exceptions.ResultNotSerializable"),
        (tasks.returns_huge, (5000,), "threadmill.exceptions.ResultTooLarge"),
        (tasks.fail, ("bad",), "builtins.ValueError"),
    ],
)
def test_bad_return_values_and_exceptions_fail_the_task(backend, task, args, error):
    result = task.enqueue(*args)
    lease = backend.acquire("w1", ALL, token())
    outcome = run_lease(lease, "default", type(backend), 1000)
    assert not outcome.succeeded
    backend.acknowledge(lease, "w1", succeeded=False, value_json=outcome.value_json)
    failed = backend.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[-1].exception_class_path == error
    assert "Traceback" in failed.errors[-1].traceback


@runs_tasks
def test_async_and_context_tasks_run(backend):
    a = tasks.async_add.enqueue(2, 3)
    c = tasks.with_context.enqueue(7)
    for expected in (5, {"attempt": 1, "id": c.id, "x": 7}):
        lease = backend.acquire("w1", ALL, token())
        outcome = run_lease(lease, "default", type(backend), 1000)
        assert outcome.succeeded
        assert json.loads(outcome.value_json) == expected
    assert a.id != c.id


def test_full_redis_refuses_enqueue_atomically_but_still_drains(disposable_redis, make_backend):
    server = disposable_redis()
    backend = make_backend(server.url, {"retry_attempts": 0})
    for _ in range(20):
        tasks.echo.enqueue("x" * 1000)
    client = server.client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 64 * 1024)
    refused = None
    for _ in range(10_000):
        try:
            tasks.echo.enqueue("x" * 1000)
        except RedisOutOfMemory as exc:
            refused = exc
            break
    assert refused is not None
    assert "maxmemory" in str(refused)
    ready = backend.queue_stats(["default"])[0].ready
    records = sum(1 for _ in client.scan_iter(match="*:task:*", count=1000))
    assert records == ready  # nothing half-written: every record is indexed
    # At the limit, workers still acquire, acknowledge and free memory.
    run_one(backend, succeeded=False)
    assert backend.purge_batch("default", TaskState.READY)[0] > 0
    client.config_set("maxmemory", 0)
    tasks.noop.enqueue()
    client.close()


def test_checks_flag_persistence_off_and_eviction_policy(disposable_redis, make_backend):
    server = disposable_redis(appendonly=False)
    backend = make_backend(server.url)
    ids = {m.id for m in backend.check()}
    assert ids == {"threadmill.W002"}
    with server.client() as c:
        c.config_set("maxmemory-policy", "allkeys-lru")
    messages = {m.id: m for m in backend.check()}
    assert set(messages) == {"threadmill.W002", "threadmill.E001"}
    assert "noeviction" in messages["threadmill.E001"].hint


def test_check_warns_when_redis_is_down(make_backend):
    backend = make_backend("redis://:pw@127.0.0.1:1/0")
    [message] = backend.check()
    assert message.id == "threadmill.W001"
    assert "127.0.0.1:1" in message.msg
    assert "pw" not in message.msg


def test_healthy_redis_passes_the_checks(backend):
    assert backend.check() == []


def test_data_loss_is_detected_from_the_epoch(disposable_redis, make_backend):
    server = disposable_redis(appendonly=False)
    backend = make_backend(server.url)
    first = backend.heartbeat("p", [], pool_report({}))
    assert backend.heartbeat("p", [], pool_report({})).epoch == first.epoch
    server.restart(flush_data=True)
    second = backend.heartbeat("p", [], pool_report({}))
    assert second.epoch != first.epoch
    backend.record_data_loss("epoch changed")
    assert "threadmill.W003" in {m.id for m in backend.check()}
    assert backend.server_info().data_lost_at is not None


@pytest.mark.parametrize(
    ("version", "too_old"),
    [("6.2.14", True), ("5.0.7", True), ("7.0.15", False), ("7.2.4", False), ("8.0.0", False)],
)
def test_a_redis_older_than_7_is_named_by_its_version(version, too_old):
    # The real server here is 7.x, so the check's version test is exercised on its input.
    assert redis_too_old(version) is too_old
