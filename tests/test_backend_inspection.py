"""The inspection API: counts, pages, one task, requeue, purge, pools, server health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from tests import tasks
from tests.reports import pool_report
from tests.test_backend_states import ALL, drain_order, run_one, token
from threadmill.backends.records import AckOutcome, TaskState
from threadmill.backends.search_records import TaskFilter

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster


def test_queue_stats_count_every_state(backend):
    for _ in range(3):
        tasks.noop.enqueue()
    tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    tasks.noop.using(queue_name="high").enqueue()
    run_one(backend, queues=["default"])
    run_one(backend, succeeded=False, queues=["default"])
    backend.acquire("w1", ["default"], token())
    stats = {s.queue: s for s in backend.queue_stats()}
    default = stats["default"]
    assert (default.ready, default.deferred, default.running) == (0, 1, 1)
    assert (default.successful, default.failed) == (1, 1)
    assert (default.successful_last_minute, default.failed_last_minute) == (1, 1)
    assert (default.enqueued_total, default.successful_total, default.failed_total) == (4, 1, 1)
    assert default.next_deferred_at > timezone.now()
    assert stats["high"].ready == 1
    assert stats["high"].oldest_ready_at is not None
    assert stats["low"].ready == 0
    assert stats["low"].oldest_ready_at is None


def test_oldest_ready_is_found_across_priority_bands(backend):
    old_low = tasks.noop.using(priority=-50).enqueue()
    for priority in (0, 10, 90):
        tasks.noop.using(priority=priority).enqueue()
    stats = backend.queue_stats(["default"])[0]
    assert stats.oldest_ready_at == backend.get_task(old_low.id).ready_at


def test_queue_names_lists_declared_then_used(backend):
    assert backend.queue_names() == ["default", "high", "low"]


def test_pages_follow_run_order_and_newest_first_for_finished(backend):
    ids = [tasks.noop.using(priority=p).enqueue().id for p in (0, 5, 0, 5)]
    page = backend.list_tasks("default", TaskState.READY, 0, 3)
    assert page.total == 4
    assert [r.id for r in page.items] == [ids[1], ids[3], ids[0]]
    second = backend.list_tasks("default", TaskState.READY, 3, 3)
    assert [r.id for r in second.items] == [ids[2]]
    drain_order(backend)
    finished = backend.list_tasks("default", TaskState.SUCCESSFUL, 0, 10)
    times = [r.finished_at for r in finished.items]
    assert times == sorted(times, reverse=True)  # newest first (ms resolution)
    assert {r.id for r in finished.items} == set(ids)


def test_get_task_has_everything(backend):
    result = tasks.add.using(priority=3).enqueue(1, b="<script>")
    lease = backend.acquire("w1", ALL, token())
    backend.acknowledge(lease, "w1", succeeded=True, value_json='{"sum": 3}')
    record = backend.get_task(result.id)
    assert record.path == "tests.tasks.add"
    assert record.name == "add"
    assert (record.queue, record.priority, record.state) == ("default", 3, TaskState.SUCCESSFUL)
    assert (record.args, record.kwargs, record.result) == ([1], {"b": "<script>"}, {"sum": 3})
    assert record.worker_ids == ["w1"]
    assert record.enqueued_at <= record.started_at <= record.finished_at
    assert record.problems == []
    assert backend.get_task("missing") is None


def test_requeue_keeps_id_history_and_priority_order(backend):
    low = tasks.fail.using(priority=-3).enqueue()
    high = tasks.fail.using(priority=3).enqueue()
    run_one(backend, succeeded=False)
    run_one(backend, succeeded=False)
    waiting = tasks.noop.enqueue()
    outcome = backend.requeue([low.id, high.id])
    assert outcome == {low.id: "requeued", high.id: "requeued"}
    assert drain_order(backend) == [high.id, waiting.id, low.id]
    again = backend.get_result(high.id)
    assert again.status == TaskResultStatus.SUCCESSFUL
    assert len(again.errors) == 1  # history kept
    assert again.attempts == 2


def test_requeue_refuses_tasks_that_are_not_finished(backend):
    running = tasks.noop.enqueue()
    backend.acquire("w1", ALL, token())
    ready = tasks.noop.enqueue()
    outcome = backend.requeue([running.id, ready.id, "missing"])
    assert outcome == {running.id: "RUNNING", ready.id: "READY", "missing": "missing"}


def test_requeue_batch_moves_a_chunk_at_a_time(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"batch_size": 4})
    for _ in range(10):
        tasks.fail.enqueue()
    for _ in range(10):
        run_one(backend, succeeded=False)
    assert backend.requeue_batch("default", TaskState.FAILED) == (4, 6)
    assert backend.requeue_batch("default", TaskState.FAILED) == (4, 2)
    assert backend.requeue_batch("default", TaskState.FAILED) == (2, 0)
    assert backend.queue_stats(["default"])[0].ready == 10
    with pytest.raises(ValueError, match="FAILED or SUCCESSFUL"):
        backend.requeue_batch("default", TaskState.READY)


def test_purge_removes_record_and_index_but_refuses_running(backend, rclient):
    done = tasks.noop.enqueue()
    run_one(backend)
    running = tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, token())
    queued = tasks.noop.enqueue()
    outcome = backend.purge([done.id, running.id, queued.id])
    assert outcome == {done.id: "purged", running.id: "RUNNING", queued.id: "purged"}
    assert backend.get_task(done.id) is None
    assert backend.get_task(queued.id) is None
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.running, stats.successful) == (0, 1, 0)
    assert backend.acknowledge(lease, "w1", succeeded=True, value_json="1").outcome == "OK"


def test_ack_after_purge_is_gone(backend):
    tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, token())
    backend.resolve_worker("w1", "lost")  # back to READY so it can be purged
    backend.purge([lease.task_id])
    ack = backend.acknowledge(lease, "w1", succeeded=True, value_json="1")
    assert ack.outcome == AckOutcome.GONE


def test_purge_batch_in_chunks_and_never_running(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"batch_size": 3})
    backend.enqueue_many(tasks.noop, [((), {})] * 7)
    assert backend.purge_batch("default", TaskState.READY) == (3, 4)
    assert backend.purge_batch("default", TaskState.READY) == (3, 1)
    assert backend.purge_batch("default", TaskState.READY) == (1, 0)
    with pytest.raises(ValueError, match="RUNNING tasks cannot be purged"):
        backend.purge_batch("default", TaskState.RUNNING)


def test_pools_read_back_heartbeats(backend):
    status = {
        "host": "h1",
        "pid": 10,
        "queues": ["default"],
        "processes": 1,
        "threads": 2,
        "restarts": 1,
        "crashes": 0,
        "started_ms": 1_700_000_000_000,
        "workers": [
            {
                "worker_id": "w1",
                "pid": 11,
                "processed": 5,
                "failed": 1,
                "rss_bytes": 1024,
                "started_ms": 1_700_000_000_000,
                "threads": [
                    {
                        "index": 0,
                        "task_id": "t1",
                        "task_path": "a.b",
                        "since_ms": 1_700_000_000_000,
                    },
                    {"index": 1, "task_id": "", "task_path": "", "since_ms": 0},
                ],
            }
        ],
    }
    reply = backend.heartbeat("pool-1", ["w1"], pool_report(status))
    assert reply.epoch
    [pool] = backend.pools()
    assert (pool.pool_id, pool.report.host, pool.report.pid, pool.stale) == (
        "pool-1",
        "h1",
        10,
        False,
    )
    [worker] = pool.report.workers
    assert (worker.worker_id, worker.busy, worker.processed) == ("w1", 1, 5)
    assert worker.threads[0].task_path == "a.b"
    backend.remove_pool("pool-1", ["w1"])
    assert backend.pools() == []


def test_server_info_reports_health(backend):
    info = backend.server_info()
    assert info.reachable
    assert info.version.startswith(("6.", "7.", "8."))
    assert info.aof_enabled
    assert info.maxmemory_policy == "noeviction"
    assert info.warnings == []


def test_a_name_filter_finds_tasks_by_path_and_continues_where_it_stopped(backend):
    for i in range(30):  # positions 0, 2, 4 ... are `add`, the others `noop`
        (tasks.add.enqueue(i, i) if i % 2 == 0 else tasks.noop.enqueue())
    page = backend.list_tasks("default", TaskState.READY, 0, 5, filter=TaskFilter(path=".add"))
    assert [t.path for t in page.items] == ["tests.tasks.add"] * 5
    assert (page.total, page.next_offset, page.name) == (30, 9, ".add")
    rest = backend.list_tasks(
        "default", TaskState.READY, page.next_offset, 100, filter=TaskFilter(path=".add")
    )
    assert len(rest.items) == 10
    assert rest.next_offset == 30  # examined everything: nothing further
    assert {t.id for t in page.items}.isdisjoint(t.id for t in rest.items)
    nothing = TaskFilter(path="nothing")
    assert backend.list_tasks("default", TaskState.READY, 0, 5, filter=nothing).items == []


def test_a_name_filter_looks_at_no_more_than_scan_positions(backend):
    for i in range(30):
        (tasks.add.enqueue(i, i) if i % 2 == 0 else tasks.noop.enqueue())
    page = backend.list_tasks(
        "default", TaskState.READY, 0, 50, filter=TaskFilter(path="add"), scan=7
    )
    assert len(page.items) == 4  # positions 0, 2, 4, 6
    assert page.next_offset == 7
