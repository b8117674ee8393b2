"""`overview()`: the dashboard's one-batch read agrees with the separate inspection calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import tasks
from tests.reports import pool_report
from tests.test_backend_states import run_one
from threadmill.backends.records import TaskState
from threadmill.exceptions import BackendUnavailable

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster

POOL_STATUS = {
    "host": "h1",
    "pid": 10,
    "queues": ["default"],
    "processes": 1,
    "threads": 2,
    "restarts": 2,
    "crashes": 1,
    "rss_bytes": 4096,
    "stopping": False,
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
                {"index": 0, "task_id": "t1", "task_path": "a.b", "since_ms": 1_700_000_000_000},
                {"index": 1, "task_id": "", "task_path": "", "since_ms": 0},
            ],
        }
    ],
}


def test_overview_matches_the_separate_reads(backend):
    tasks.noop.enqueue()
    tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    tasks.noop.using(queue_name="high").enqueue()
    for queue in ("default", "high", "low", "default"):
        tasks.fail.using(queue_name=queue).enqueue()
        run_one(backend, succeeded=False, queues=[queue])
    backend.heartbeat("pool-1", ["w1"], pool_report(POOL_STATUS))

    overview = backend.overview(recent_failures=3)

    def without_time(stats):
        return [(s.queue, s.ready, s.deferred, s.running, s.failed, s.failed_total) for s in stats]

    assert without_time(overview.queues) == without_time(backend.queue_stats())
    assert [q.queue for q in overview.queues] == ["default", "high", "low"]
    assert overview.pools == backend.pools()
    [pool] = overview.pools
    report = pool.report
    assert (report.rss_bytes, report.restarts, report.crashes, report.stopping) == (
        4096,
        2,
        1,
        False,
    )
    assert report.workers[0].threads[0].task_path == "a.b"
    server = backend.server_info()
    assert overview.server.reachable
    assert (overview.server.version, overview.server.aof_enabled) == (server.version, True)
    assert overview.server.appendfsync == server.appendfsync == "everysec"
    assert overview.server.warnings == server.warnings == []
    assert overview.server.url == server.url
    # The newest failures across queues, newest first, at most 3.
    assert len(overview.failures) == 3
    finished = [r.finished_at for r in overview.failures]
    assert finished == sorted(finished, reverse=True)
    every_failure = [
        r
        for q in ("default", "high", "low")
        for r in backend.list_tasks(q, TaskState.FAILED, 0, 10).items
    ]
    assert len(every_failure) == 4
    oldest_kept = min(finished)
    assert all(r.finished_at <= oldest_kept for r in every_failure if r not in overview.failures)
    assert {r.state for r in overview.failures} == {TaskState.FAILED}
    assert overview.failures[0].last_error.exception_name == "ValueError"


def test_overview_includes_queues_used_but_not_declared(backend, rclient):
    rclient.sadd(backend.keys.queues, "legacy")
    assert [q.queue for q in backend.overview().queues] == ["default", "high", "low", "legacy"]


def test_overview_without_failures_and_after_the_script_cache_is_flushed(backend, rclient):
    tasks.noop.enqueue()
    assert backend.overview(recent_failures=0).failures == []
    rclient.script_flush()
    assert backend.overview().queues[0].ready == 1


def test_overview_of_an_unreachable_server_raises_backend_unavailable(make_backend):
    backend = make_backend(
        "redis://127.0.0.1:1/0", {"retry_attempts": 0, "socket_connect_timeout": 0.5}
    )
    with pytest.raises(BackendUnavailable, match="did not answer"):
        backend.overview()


def test_overview_tolerates_a_server_that_refuses_config(make_backend, disposable_redis):
    server = disposable_redis(extra=["--rename-command", "CONFIG", ""])
    backend = make_backend(server.url)
    overview = backend.overview()
    assert overview.server.reachable
    assert overview.server.appendfsync == ""
    assert overview.server.aof_enabled
