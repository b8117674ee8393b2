"""Hand-made dashboard snapshots for the pure render tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from threadmill.top.views import (
    FailureView,
    PoolView,
    QueueView,
    RunView,
    ScheduleView,
    ServerView,
    Snapshot,
    ThreadView,
    ThroughputBucket,
    WorkerView,
)

NOW = datetime(2025, 3, 14, 15, 9, 26).astimezone()


def queue(name: str, ready: int = 0, **kw) -> QueueView:
    values = dict(
        name=name,
        ready=ready,
        deferred=0,
        running=0,
        successful=0,
        failed=0,
        successful_last_minute=0,
        failed_last_minute=0,
        in_per_second=0.0,
        out_per_second=0.0,
        oldest_ready_seconds=None,
        enqueued_total=0,
        successful_total=0,
        failed_total=0,
        retrying=0,
        retried_total=0,
        retries_per_minute=0.0,
    )
    values.update(kw)
    return QueueView(**values)


def busy_snapshot() -> Snapshot:
    """Two pools (one stale), a stuck task, failures, a throughput history."""
    return Snapshot(
        alias="default",
        url="redis://:***@10.0.0.5:6379/0",
        taken_at=NOW,
        reachable=True,
        redis_time=NOW,
        server=ServerView("7.0.15", 3_400_000, 0, "noeviction", "AOF everysec", []),
        queues=[
            queue(
                "default",
                1234,
                deferred=3,
                retrying=2,
                retried_total=40,
                retries_per_minute=1.5,
                running=3,
                successful_last_minute=310,
                failed_last_minute=2,
                in_per_second=5.2,
                out_per_second=5.0,
                oldest_ready_seconds=75.0,
            ),
            queue("emails", 0, successful_last_minute=1, out_per_second=0.1),
            queue("reports", 7, oldest_ready_seconds=4.0),
        ],
        pools=[
            PoolView(
                pool_id="web1.100.ab",
                host="web1",
                pid=100,
                uptime_seconds=3700.0,
                heartbeat_age_seconds=0.8,
                stale=False,
                stopping=False,
                restarts=1,
                crashes=1,
                rss_bytes=40_000_000,
                skew_seconds=0.01,
                queues=["default", "emails"],
                processes=2,
                threads_per_process=2,
                workers=[
                    WorkerView(
                        "w1",
                        101,
                        3600.0,
                        2,
                        [
                            ThreadView(0, "t1", "shop.tasks.send_invoice", 3.2),
                            ThreadView(1, "t2", "shop.tasks.resize_image", 95.0),
                        ],
                        1200,
                        3,
                        55_000_000,
                    ),
                    WorkerView(
                        "w2",
                        102,
                        120.0,
                        1,
                        [
                            ThreadView(0, "t3", "shop.tasks.sync_stock", 2000.0),
                            ThreadView(1, "", "", None),
                        ],
                        80,
                        0,
                        52_000_000,
                    ),
                ],
            ),
            PoolView(
                pool_id="web2.200.cd",
                host="web2",
                pid=200,
                uptime_seconds=7200.0,
                heartbeat_age_seconds=14.0,
                stale=True,
                stopping=False,
                restarts=0,
                crashes=0,
                rss_bytes=38_000_000,
                skew_seconds=0.0,
                queues=["default"],
                processes=1,
                threads_per_process=1,
                workers=[
                    WorkerView(
                        "w3",
                        201,
                        7000.0,
                        1,
                        [ThreadView(0, "t4", "shop.tasks.export", 30.0)],
                        10,
                        0,
                        60_000_000,
                    )
                ],
            ),
        ],
        failures=[
            FailureView(
                "abcdef0123456789",
                "default",
                "shop.tasks.charge_card",
                "payments.errors.CardDeclined",
                NOW - timedelta(seconds=12),
                12.0,
            ),
            FailureView(
                "0123456789abcdef",
                "emails",
                "shop.tasks.send_invoice",
                "threadmill.exceptions.WorkerLost",
                NOW - timedelta(seconds=300),
                300.0,
            ),
        ],
        throughput=[
            ThroughputBucket(
                NOW - timedelta(seconds=10 * (60 - i)),
                None if i < 20 else 40 + i,
                None if i < 20 else (i * 7) % 50,
                None if i < 20 else i % 3,
            )
            for i in range(60)
        ],
        rate_window_seconds=1.0,
        lease_ttl_seconds=3600.0,
        heartbeat_interval_seconds=2.0,
    )


def many_workers_snapshot(processes: int = 8, threads: int = 4) -> Snapshot:
    """One pool with many mostly idle threads: taller than a small terminal."""
    base = busy_snapshot()
    pool = base.pools[0]
    workers = [
        WorkerView(
            f"w{n}",
            1000 + n,
            60.0,
            1,
            [ThreadView(0, f"t{n}", "shop.tasks.crunch", 1.5)]
            + [ThreadView(i, "", "", None) for i in range(1, threads)],
            n,
            0,
            50_000_000,
        )
        for n in range(processes)
    ]
    return replace(base, pools=[replace(pool, workers=workers)])


def down_snapshot() -> Snapshot:
    """Redis went down after a good read: the last figures are kept."""
    return replace(
        busy_snapshot(),
        reachable=False,
        error="Redis at redis://10.0.0.5:6379/0 did not answer: Connection refused.",
        down_since=NOW - timedelta(seconds=8),
    )


def schedule(name: str, due_in: float | None, **kw) -> ScheduleView:
    values = dict(
        name=name,
        task=f"shop.tasks.{name.replace('-', '_')}",
        description="every 5 minutes",
        next_slot=NOW + timedelta(seconds=due_in) if due_in is not None else None,
        due_in_seconds=due_in,
        paused=False,
        problem="",
        last_run=None,
    )
    values.update(kw)
    return ScheduleView(**values)


def scheduled_snapshot() -> Snapshot:
    """busy_snapshot with eight schedules: six runnable (one paused), two with a problem."""
    ran = RunView(NOW - timedelta(seconds=120), "t9", "slot", "SUCCESSFUL")
    failed = RunView(NOW - timedelta(seconds=30), "t8", "now", "FAILED")
    return replace(
        busy_snapshot(),
        schedules=[
            schedule("nightly-report", 9 * 3600.0, description="At 02:30 (Europe/Berlin)"),
            schedule("sync", 184.0, last_run=ran),
            schedule("cleanup", 40.0, paused=True, last_run=failed),
            schedule("broken", 5.0, problem="threadmill.E023"),
            schedule("bad-cron", None, problem="threadmill.E021", task=""),
            schedule("hourly", 1800.0),
            schedule("weekly", 5 * 86400.0),
            schedule("due", 0.0),
        ],
    )
