"""The dashboard's sampler on a real Redis: rates, history, Redis down, cost per frame."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from redis.connection import AbstractConnection

from tests import tasks
from tests.admin_helpers import retry_next
from tests.reports import pool_report
from tests.test_backend_states import run_one, token
from threadmill.top.snapshot import Sampler

ALL = ["default", "high", "low"]


def by_name(snapshot):
    return {q.name: q for q in snapshot.queues}


def test_rates_are_counter_deltas_between_frames(backend):
    sampler = Sampler(backend)
    first = sampler.sample()
    assert first.reachable
    assert first.rate_window_seconds is None
    assert {q.in_per_second for q in first.queues} == {None}
    for _ in range(5):
        tasks.noop.enqueue()
    run_one(backend, queues=["default"])
    run_one(backend, succeeded=False, queues=["default"])
    second = sampler.sample()
    window = second.rate_window_seconds
    assert window is not None
    assert window > 0
    default = by_name(second)["default"]
    assert default.in_per_second * window == pytest.approx(5, rel=0.01)
    assert default.out_per_second * window == pytest.approx(2, rel=0.01)
    assert by_name(second)["high"].in_per_second == 0
    # the frame's deltas land in the throughput bucket(s) its window covers
    filled = [b for b in second.throughput if b.enqueued is not None]
    assert 1 <= len(filled) <= 2
    assert filled[-1] is second.throughput[-1]
    totals = [sum(getattr(b, k) for b in filled) for k in ("enqueued", "finished", "failed")]
    assert totals == [pytest.approx(5), pytest.approx(2), pytest.approx(1)]
    assert len(second.throughput) == 60


def test_a_counter_reset_gives_no_rate_rather_than_a_negative_one(backend, rclient):
    sampler = Sampler(backend)
    tasks.noop.enqueue()
    sampler.sample()
    rclient.flushall()  # what a Redis that lost its data looks like
    after = sampler.sample()
    assert by_name(after)["default"].in_per_second is None
    assert all(b.enqueued is None for b in after.throughput)
    tasks.noop.enqueue()
    again = sampler.sample()  # counting resumes from the new values
    assert by_name(again)["default"].in_per_second > 0


def test_retries_per_minute_come_from_the_retried_counter(backend):
    sampler = Sampler(backend)
    first = sampler.sample()
    assert by_name(first)["default"].retries_per_minute is None  # one frame: no rate
    for _ in range(3):
        tasks.flaky.enqueue()
        retry_next(backend, retry_after=600)
    second = sampler.sample()
    window = second.rate_window_seconds
    default = by_name(second)["default"]
    assert (default.deferred, default.retrying, default.retried_total) == (3, 3, 3)
    assert default.retries_per_minute == pytest.approx(3 * 60 / window, rel=0.01)
    assert by_name(second)["high"].retries_per_minute == 0
    data = second.to_dict()["queues"][0]
    assert (data["retrying"], data["retried_total"]) == (3, 3)
    assert data["retries_per_minute"] == default.retries_per_minute


def test_retries_per_minute_span_the_last_minute_and_survive_a_reset(backend):
    sampler = Sampler(backend)
    now = 1_000_000.0
    sampler.retries.extend([(now - 120, {"q": 0}), (now - 70, {"q": 10}), (now - 50, {"q": 20})])
    # counted from the newest frame at least a minute old: (50 - 10) retries in 70 s
    assert sampler._retries_per_minute(now, {"q": 50}) == {"q": round(40 * 60 / 70, 3)}
    assert [at for at, _ in sampler.retries] == [now - 70, now - 50, now]
    assert sampler._retries_per_minute(now + 1, {"q": 5}) == {}  # the counter went back
    assert sampler._retries_per_minute(now + 3, {"q": 7, "new": 4}) == {"q": 60.0, "new": 120.0}


def test_history_is_bounded_by_time_and_spread_over_the_window(backend):
    sampler = Sampler(backend, history_seconds=60, bucket_seconds=10)
    now = 1_000_005.0  # half way through a bucket
    sampler.history.extend(
        [
            (now - 3601, now - 3600, 1, 1, 0),  # long gone
            (now - 66, now - 65, 2, 2, 0),  # before the first bucket
            (now - 36, now - 35, 3, 3, 1),  # one second, inside one bucket
            (now - 30, now, 30, 60, 0),  # thirty seconds over four buckets
        ]
    )
    buckets = sampler._buckets(now)
    assert len(buckets) == 6
    assert [b.enqueued for b in buckets] == [None, 3, 5, 10, 10, 5]
    assert [b.finished for b in buckets] == [None, 3, 10, 20, 20, 10]
    assert len(sampler.history) == 2  # older entries dropped


def test_ages_and_runtimes_use_redis_time_and_pool_skew(backend):
    tasks.noop.enqueue()
    lease = backend.acquire("w1", ALL, token())
    redis_now = backend.server_info().now.timestamp()
    skew = 3600.0  # the pool's host clock runs an hour ahead of Redis
    host_ms = int((redis_now + skew - 42) * 1000)  # its thread started 42 s ago
    status = {
        "host": "h",
        "pid": 1,
        "started_ms": host_ms,
        "skew_seconds": skew,
        "workers": [
            {
                "worker_id": "w1",
                "pid": 2,
                "started_ms": host_ms,
                "threads": [{"task_id": lease.task_id, "task_path": "x.y", "since_ms": host_ms}],
            }
        ],
    }
    backend.heartbeat("p1", ["w1"], pool_report(status))
    [pool] = Sampler(backend).sample().pools
    assert pool.uptime_seconds == pytest.approx(42, abs=2)
    assert pool.workers[0].threads[0].running_seconds == pytest.approx(42, abs=2)
    assert pool.heartbeat_age_seconds < 2
    assert not pool.stale


def test_redis_down_keeps_the_last_figures_and_recovers(disposable_redis, make_backend):
    server = disposable_redis()
    backend = make_backend(server.url, {"retry_attempts": 0, "socket_connect_timeout": 1})
    tasks.noop.enqueue()
    sampler = Sampler(backend)
    assert by_name(sampler.sample())["default"].ready == 1
    server.kill()
    down = sampler.sample()
    assert not down.reachable
    assert "did not answer" in down.error
    assert by_name(down)["default"].ready == 1  # the last good figures
    still_down = sampler.sample()
    assert still_down.down_since == down.down_since
    server.restart()  # AOF on: the data is back; the script cache is not
    up = sampler.sample()
    assert up.reachable
    assert (up.error, up.down_since) == ("", None)
    assert by_name(up)["default"].ready == 1


def test_a_server_never_reached_gives_an_empty_down_snapshot(make_backend):
    backend = make_backend("redis://127.0.0.1:1/0", {"retry_attempts": 0})
    snapshot = Sampler(backend).sample()
    assert not snapshot.reachable
    assert snapshot.server is None
    assert snapshot.queues == []


# ---- cost -------------------------------------------------------------------------------


class RoundTrips:
    """Counts requests this process sends to Redis: one per command, one per pipeline."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            self.count += 1
            return original(connection, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)


def server_commands(rclient) -> int:
    """Commands Redis has executed, scripts' inner calls included (INFO commandstats)."""
    stats = rclient.info("commandstats")
    return sum(v["calls"] for v in stats.values())


def fill(backend, ready: int) -> None:
    """`ready` ready tasks plus the same other states either way: 10 deferred, 6 failed, 2
    running, 3 successful."""
    later = timezone.now() + timedelta(hours=1)
    backend.enqueue_many(tasks.noop.using(run_after=later), [((), {})] * 10)
    for _ in range(6):
        tasks.fail.enqueue()
        run_one(backend, succeeded=False, queues=["default"])
    for _ in range(3):
        tasks.noop.enqueue()
        run_one(backend, queues=["default"])
    for _ in range(2):
        tasks.noop.using(queue_name="high").enqueue()
        backend.acquire("w1", ["high"], token())
    backend.enqueue_many(tasks.noop, [((), {})] * ready)
    backend.heartbeat("pool-1", ["w1"], pool_report({"host": "h", "pid": 1, "workers": []}))


def frame_cost(backend, rclient, monkeypatch) -> tuple[int, int, object]:
    sampler = Sampler(backend)
    sampler.sample()  # warm: connection set-up, scripts loaded
    before = server_commands(rclient)
    trips = RoundTrips(monkeypatch)
    snapshot = sampler.sample()
    monkeypatch.undo()
    commands = server_commands(rclient) - before - 1  # not the INFO that measured it
    return trips.count, commands, snapshot


def test_a_frame_costs_the_same_with_10_or_10000_tasks(backend, rclient, monkeypatch):
    fill(backend, 10)
    small_trips, small_commands, small = frame_cost(backend, rclient, monkeypatch)
    assert by_name(small)["default"].ready == 10
    rclient.flushall()
    fill(backend, 10_000)
    big_trips, big_commands, big = frame_cost(backend, rclient, monkeypatch)
    assert by_name(big)["default"].ready == 10_000
    assert (by_name(big)["default"].failed, by_name(big)["high"].running) == (6, 2)
    assert len(big.failures) == 5
    assert big_trips == small_trips == 2  # two pipelines
    assert big_commands == small_commands
    print(f"\nper frame: {big_trips} round trips, {big_commands} Redis commands")


def test_a_paused_queue_and_a_quiet_pool_reach_the_frame(backend):
    backend.pause_queue("low")
    backend.heartbeat("p1", ["w1"], pool_report({"host": "h", "pid": 1, "quiet": True}))
    snapshot = Sampler(backend).sample()
    assert [q.name for q in snapshot.queues if q.paused] == ["low"]
    assert [p.quiet for p in snapshot.pools] == [True]
