"""Helpers of the admin tests, the docs screenshots and the admin benchmark: users with
given permissions, FAILED and retrying tasks with real tracebacks (no pool needed), a fake
heartbeat."""

from __future__ import annotations

import itertools
import json
import os
import time

from django.contrib.auth.models import Permission, User

from tests.reports import pool_report
from threadmill.backends.records import Lease
from threadmill.task_codec import error_json

_tokens = itertools.count()
ALL_QUEUES = ["default", "high", "low"]


def make_user(username: str, *codenames: str, staff: bool = True) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=staff)
    if codenames:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="threadmill", codename__in=codenames)
        )
    return user


def lease_next(backend, worker: str = "w1", queues=ALL_QUEUES) -> Lease:
    lease = backend.acquire(worker, queues, f"{worker}/{next(_tokens)}")
    assert lease is not None, "nothing to lease"
    return lease


def failure_json(message: str = "boom") -> str:
    """A stored error with a real traceback, as the runner records it."""

    def inner():
        raise ValueError(message)

    try:
        inner()
    except ValueError as exc:
        return error_json(exc)
    raise AssertionError("unreachable")


def fail_next(backend, worker: str = "w1", message: str = "boom", queues=ALL_QUEUES) -> Lease:
    """Lease the next task and acknowledge it FAILED (how tests make failed tasks)."""
    lease = lease_next(backend, worker, queues)
    backend.acknowledge(lease, worker, succeeded=False, value_json=failure_json(message))
    return lease


def next_redis_millisecond(backend) -> None:
    """Return once Redis's clock has moved to a later millisecond, so that the next finish
    time differs from the last (finished lists order by it; equal times order by id)."""

    def now_ms() -> int:
        seconds, micros = backend.store.client.time()
        return seconds * 1000 + micros // 1000

    start = now_ms()
    while now_ms() == start:
        pass


def succeed_next(backend, worker: str = "w1", value=None, queues=ALL_QUEUES) -> Lease:
    lease = lease_next(backend, worker, queues)
    backend.acknowledge(lease, worker, succeeded=True, value_json=json.dumps(value))
    return lease


def fake_heartbeat(backend, pool_id: str = "pool-1", running: Lease | None = None) -> None:
    """Publish a pool status as a pool's arbiter would (one process, two threads)."""
    now_ms = int(time.time() * 1000)
    threads = [
        {
            "index": 0,
            "task_id": running.task_id if running else "",
            "task_path": running.path if running else "",
            "since_ms": now_ms - 4200 if running else 0,
        },
        {"index": 1, "task_id": "", "task_path": "", "since_ms": 0},
    ]
    status = {
        "host": "web-1.example",
        "pid": os.getpid(),
        "started_ms": now_ms - 3_725_000,
        "queues": ALL_QUEUES,
        "processes": 1,
        "threads": 2,
        "restarts": 1,
        "crashes": 0,
        "skew_seconds": 0.004,
        "workers": [
            {
                "worker_id": "w1",
                "pid": os.getpid() + 1,
                "started_ms": now_ms - 1_800_000,
                "processed": 1234,
                "failed": 5,
                "rss_bytes": 48 * 1024 * 1024,
                "threads": threads,
            }
        ],
    }
    backend.heartbeat(pool_id, ["w1"], pool_report(status))


def retry_next(backend, worker: str = "w1", retry_after: float = 600, queues=ALL_QUEUES) -> Lease:
    """Lease the next task and acknowledge it failed with a retry: deferred, retrying."""
    lease = lease_next(backend, worker, queues)
    backend.acknowledge(
        lease, worker, succeeded=False, value_json=failure_json("flaky"), retry_after=retry_after
    )
    return lease


#: Debian's chromium, as the browser test and docs/screenshots.py launch it (Playwright's own
#: browser downloads do not work on these machines).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
