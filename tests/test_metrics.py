"""Run metrics: written by a real pool's acknowledgements (counts match what ran), kept for
metrics_window (every key expires), read per minute and per task path, the option's
validation, and the buckets that Lua and Python share."""

from __future__ import annotations

import re
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests import tasks
from threadmill.backends.lua import library_source
from threadmill.backends.metric_records import RUN_BUCKETS_MS, TaskMetrics, percentile
from threadmill.options import BackendOptions

FAST = {"broker_interval": 0.05}


def by_path(backend, **kwargs) -> dict[str, TaskMetrics]:
    return {m.path: m for m in backend.task_metrics(**kwargs)}


def test_a_pool_run_writes_runs_failures_and_retries(pool, backend, rclient):
    started = time.time()
    for n in range(5):
        tasks.add.enqueue(n, 1)
    tasks.fail.enqueue()
    tasks.fail.enqueue()
    flaky = tasks.flaky.enqueue(succeed_on=2)  # one retried attempt, then successful
    p = pool("--processes", "1", "--threads", "2", "--exit-empty", options=FAST)
    assert p.wait(60) == 0, p.tail()
    assert backend.get_result(flaky.id).return_value == 2

    span = by_path(backend, span=3600, failures=10)
    add, fail, again = span["tests.tasks.add"], span["tests.tasks.fail"], span["tests.tasks.flaky"]
    assert (add.successful, add.failed, add.retried, add.runs) == (5, 0, 0, 5)
    assert (fail.successful, fail.failed, fail.retried) == (0, 2, 0)
    assert (again.successful, again.failed, again.retried) == (1, 0, 1)
    assert sum(add.buckets) == 5
    assert add.max_ms is not None
    assert add.p95 is not None
    assert fail.failure_rate == 1.0
    assert again.failure_rate == 0.5
    assert [n.exception_class for n in fail.failures] == ["builtins.ValueError"] * 2
    assert fail.failures_by_class()[0][0] == "builtins.ValueError"
    assert again.failures[0].retried
    assert again.failures[0].exception_class.endswith("Error")
    assert {m.queue for m in span.values()} == {"default"}

    totals = by_path(backend, span=None)  # since first seen: the same counts, with a sum
    assert (totals["tests.tasks.add"].successful, totals["tests.tasks.fail"].failed) == (5, 2)
    assert totals["tests.tasks.add"].sum_ms is not None

    only = backend.task_metrics(span=3600, path="tests.tasks.fail", queue="default")
    assert [m.path for m in only] == ["tests.tasks.fail"]

    minutes = backend.metrics_minutes(60)
    assert len(minutes.minutes) == 60
    assert minutes.series == 3
    assert sum(m.total("successful") for m in minutes.minutes) == 6
    assert sum(m.total("failed") for m in minutes.minutes) == 2
    assert sum(m.total("retried") for m in minutes.minutes) == 1
    assert sum(m.processed for m in minutes.minutes) == 8
    assert minutes.minutes[-1].start <= minutes.now

    # Every per-minute key expires after its minute plus metrics_window (24 h by default);
    # only the totals (and the series index) are kept until the series is forgotten.
    keys = [k for k in rclient.scan_iter(f"{backend.keys.base}m:*")]
    expiring = [k for k in keys if re.search(r":m:\d+", k) or ":m:fail:" in k]
    assert expiring
    # Each was written after the test started, so less of its window is gone than the time
    # since (a fixed 5 s fails when a run slower than that crosses a minute boundary), give
    # or take a second of clock rounding.
    since_start_ms = (time.time() - started) * 1000 + 1_000
    for key in expiring:
        ttl = rclient.pttl(key)
        assert 86_400_000 - since_start_ms < ttl <= 86_400_000 + 60_000, (key, ttl)
    for key in set(keys) - set(expiring):
        assert rclient.pttl(key) == -1, key


def test_metrics_window_expires_and_forgets_series(pool, make_backend, redis_server, rclient):
    options = {**FAST, "metrics_window": 60}
    backend = make_backend(redis_server.url, options)
    tasks.add.enqueue(1, 2)
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", options=options)
    assert p.wait(60) == 0, p.tail()
    minute_keys = [k for k in rclient.scan_iter(f"{backend.keys.base}m:*") if "total" not in k]
    for key in minute_keys:
        if key != backend.keys.metrics_series:
            assert 0 < rclient.pttl(key) <= 120_000, key
    assert backend.task_metrics(span=None)[0].successful == 1
    # A series not seen for metrics_window is forgotten with its totals at the next read.
    rclient.zadd(backend.keys.metrics_series, {"default\ttests.tasks.add": 1})
    assert backend.task_metrics(span=None) == []
    assert not rclient.exists(backend.keys.metrics_total("default", "tests.tasks.add"))


def test_no_metrics_with_a_window_of_zero(pool, make_backend, redis_server, rclient):
    options = {**FAST, "metrics_window": 0}
    backend = make_backend(redis_server.url, options)
    tasks.add.enqueue(1, 2)
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", options=options)
    assert p.wait(60) == 0, p.tail()
    assert list(rclient.scan_iter(f"{backend.keys.base}m:*")) == []
    assert backend.task_metrics(span=None) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (30, "must be 0 .no run metrics. or at least 60s"),
        (8 * 86400, "at most 7 days"),
        ("1h", "must be a timedelta or a number of seconds"),
        (-1, "must be at least 0s"),
    ],
)
def test_metrics_window_is_validated(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        BackendOptions.from_settings("default", {"metrics_window": value})
    assert BackendOptions.from_settings("default", {"metrics_window": 0}).metrics_window == 0


def test_lua_and_python_share_the_run_time_buckets():
    lib = library_source()
    found = re.search(r"local RUN_BUCKETS_MS = \{([^}]*)\}", lib)
    assert found
    assert tuple(int(v) for v in found.group(1).replace("\n", " ").split(",")) == RUN_BUCKETS_MS


def test_percentiles_interpolate_within_buckets():
    buckets = [0] * (len(RUN_BUCKETS_MS) + 1)
    buckets[0] = 50  # <= 5 ms
    buckets[4] = 50  # 50-100 ms
    assert percentile(tuple(buckets), 0.5) == 5.0
    assert percentile(tuple(buckets), 0.95) == pytest.approx(95.0)
    assert percentile(tuple(buckets), 0.95, max_ms=80) == pytest.approx(77.0)
    assert percentile(tuple([0] * len(buckets)), 0.5) is None
    buckets[-1] = 1000
    assert percentile(tuple(buckets), 0.99, max_ms=2_000_000) == 2_000_000


@pytest.mark.both_topologies
def test_reads_work_on_one_server_and_on_a_cluster(backend):
    from tests.admin_helpers import fail_next, succeed_next

    tasks.add.enqueue(1, 1)
    succeed_next(backend)
    tasks.fail.enqueue()
    fail_next(backend)
    rows = by_path(backend, span=600, failures=5)
    assert (rows["tests.tasks.add"].successful, rows["tests.tasks.fail"].failed) == (1, 1)
    assert rows["tests.tasks.fail"].last_failure.exception_class == "builtins.ValueError"
    minutes = backend.metrics_minutes(5)
    assert sum(m.processed for m in minutes.minutes) == 2
