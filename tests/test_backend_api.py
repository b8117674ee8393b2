"""RedisTaskBackend through Django's task API: enqueue, validation, results, settings."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.test import override_settings
from django.utils import timezone

from tests import tasks
from tests.conftest import tasks_setting
from tests.reports import pool_report
from threadmill.backends.redis import RedisTaskBackend
from threadmill.exceptions import BackendUnavailable, InvalidTaskArguments

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster


def test_capabilities(backend):
    assert isinstance(backend, RedisTaskBackend)
    assert backend.supports_defer
    assert backend.supports_async_task
    assert backend.supports_get_result
    assert backend.supports_priority


def test_enqueue_returns_ready_result_and_get_result_reads_it_back(backend):
    result = tasks.add.enqueue(2, b=3)
    assert result.status == TaskResultStatus.READY
    assert len(result.id) == 32
    assert result.args == [2]
    assert result.kwargs == {"b": 3}
    assert result.backend == "default"
    assert result.enqueued_at is not None
    again = backend.get_result(result.id)
    assert again.id == result.id
    assert again.task.func is tasks.add.func
    assert again.status == TaskResultStatus.READY
    assert again.args == [2]
    assert again.kwargs == {"b": 3}
    assert again.enqueued_at == result.enqueued_at
    assert again.worker_ids == []
    # Task.get_result checks that the result belongs to that task
    assert tasks.add.get_result(result.id).id == result.id


def test_task_enqueued_signal_is_sent():
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append((sender, task_result.id, task_result.enqueued_at))

    task_enqueued.connect(receiver)
    try:
        result = tasks.noop.enqueue()
    finally:
        task_enqueued.disconnect(receiver)
    assert seen == [(RedisTaskBackend, result.id, result.enqueued_at)]


def test_unknown_result_id_raises(backend):
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("does-not-exist")


def test_invalid_priority_is_refused():
    with pytest.raises(InvalidTask, match="priority"):
        tasks.noop.using(priority=101)
    with pytest.raises(InvalidTask, match="priority"):
        tasks.noop.using(priority=-101)


def test_unknown_queue_is_refused():
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid"):
        tasks.noop.using(queue_name="nope")


def test_naive_run_after_is_refused():
    with pytest.raises(InvalidTask, match="aware"):
        tasks.noop.using(run_after=datetime(2030, 1, 1))


def test_each_task_is_validated_once_per_backend(backend, monkeypatch):
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1))
    seen = []
    validate = backend.validate_task
    monkeypatch.setattr(backend, "validate_task", lambda task: (seen.append(task), validate(task)))
    tasks.noop.enqueue()
    tasks.noop.enqueue()
    assert seen == [tasks.noop]
    later.enqueue()
    later.enqueue()  # a task with a run_after is checked every time
    assert seen == [tasks.noop, later, later]


def test_a_task_valid_for_one_backend_is_refused_by_another(backend, make_backend, redis_server):
    high = tasks.noop.using(queue_name="high")
    high.enqueue()  # valid here, and remembered as such by this backend
    narrower = make_backend(redis_server.url, QUEUES=["default"])
    with pytest.raises(InvalidTask, match="Queue 'high' is not valid"):
        narrower.enqueue(high, (), {})


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((object(),), {}),
        ((), {"when": datetime(2030, 1, 1)}),
        ((float("nan"),), {}),
        ((b"\xff",), {}),
    ],
)
def test_non_json_arguments_raise_and_write_nothing(rclient, args, kwargs):
    with pytest.raises(InvalidTaskArguments, match="JSON") as caught:
        tasks.echo.enqueue(*args, **kwargs)
    assert isinstance(caught.value, InvalidTask)
    assert rclient.dbsize() == 0


def test_enqueue_many_validates_all_before_writing(backend, rclient):
    with pytest.raises(InvalidTaskArguments):
        backend.enqueue_many(tasks.echo, [((1,), {}), ((object(),), {})])
    assert rclient.dbsize() == 0
    results = backend.enqueue_many(tasks.echo, [((i,), {}) for i in range(1200)])
    assert len({r.id for r in results}) == 1200
    assert backend.queue_stats(["default"])[0].ready == 1200


def test_aenqueue_and_aget_result(backend):
    async def go():
        result = await tasks.async_add.aenqueue(1, 2)
        return result, await backend.aget_result(result.id)

    result, again = asyncio.run(go())
    assert again.id == result.id
    assert again.status == TaskResultStatus.READY


def test_deferred_enqueue_is_ready_in_django_terms(backend):
    when = timezone.now() + timedelta(hours=1)
    result = tasks.noop.using(run_after=when).enqueue()
    again = backend.get_result(result.id)
    assert again.status == TaskResultStatus.READY
    assert abs((again.task.run_after - when).total_seconds()) < 0.002
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.deferred) == (0, 1)


def test_missing_redis_url_is_improperly_configured():
    params = {"BACKEND": "threadmill.backends.redis.RedisTaskBackend"}
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        RedisTaskBackend("x", params)
    with pytest.raises(ImproperlyConfigured, match="must start with redis://"):
        RedisTaskBackend("x", {**params, "REDIS_URL": "http://localhost"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lease_tll": 5}, "unknown option.*lease_tll"),
        ({"lease_ttl": "5"}, "lease_ttl.*timedelta or a number"),
        ({"batch_size": 0}, "batch_size.*at least 1"),
        ({"batch_size": 2.5}, "batch_size.*whole number"),
        ({"max_attempts": True}, "max_attempts.*whole number"),
        ({"key_prefix": "a b"}, "key_prefix"),
        ({"heartbeat_interval": 5, "heartbeat_ttl": 2}, "heartbeat_ttl"),
    ],
)
def test_bad_options_are_improperly_configured(options, message):
    params = {"REDIS_URL": "redis://localhost:1/0", "OPTIONS": options}
    with pytest.raises(ImproperlyConfigured, match=message):
        RedisTaskBackend("x", params)


def test_options_accept_timedelta_and_seconds():
    backend = RedisTaskBackend(
        "x",
        {
            "REDIS_URL": "redis://localhost:1/0",
            "OPTIONS": {"lease_ttl": timedelta(minutes=2), "result_ttl": 30},
        },
    )
    assert backend.config.lease_ttl == 120.0
    assert backend.config.result_ttl == 30.0
    assert backend.config.batch_size == 100


def test_unreachable_redis_raises_a_clear_error_quickly():
    url = "redis://:secret@127.0.0.1:1/0"
    with override_settings(TASKS=tasks_setting(url, {"retry_attempts": 0})):
        with pytest.raises(BackendUnavailable) as caught:
            tasks.noop.enqueue()
        message = str(caught.value)
        assert "127.0.0.1:1" in message
        assert "secret" not in message
        with pytest.raises(BackendUnavailable):
            task_backends["default"].get_result("x")


def test_every_key_carries_the_alias_hash_tag(backend, rclient):
    from tests.test_backend_states import run_one

    tasks.add.enqueue(1, 2)
    tasks.fail.enqueue()
    tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    run_one(backend, "w1")
    run_one(backend, "w1", succeeded=False)
    backend.heartbeat("pool-1", ["w1"], pool_report({"host": "h"}))
    keys = list(rclient.scan_iter(count=1000))
    assert len(keys) > 10
    assert all("{default}" in k for k in keys), keys
