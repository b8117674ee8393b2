"""Driver for the published `threadmill` package (see versions.py for the release).

Runs in its own environment, where `threadmill` is the PyPI release, never this repository.
Configured as its README says (INSTALLED_APPS, TASKS with REDIS_URL); the pool is
`manage.py threadmill worker --workers P --threads T`.
"""

from __future__ import annotations

import os
import sys

from common import (
    PEERS_DIR,
    POOL_DRAIN_SETTINGS,
    POOL_IDLE_SETTING,
    POOL_SETTINGS,
    Driver,
)

os.environ["BENCH_SYSTEM"] = "threadmill-pypi"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_django_settings")


class ThreadmillPypiDriver(Driver):
    name = "threadmill-pypi"
    packages = ("threadmill", "django", "redis")
    drain_settings = POOL_DRAIN_SETTINGS
    idle_setting = POOL_IDLE_SETTING

    def __init__(self) -> None:
        import django

        django.setup()
        import peer_django_tasks
        from django.tasks import task_backends

        self.tasks = peer_django_tasks
        self.backend = task_backends["default"]

    def enqueue_noop(self) -> None:
        self.tasks.noop.enqueue()

    def enqueue_stamp(self, i: int) -> None:
        self.tasks.stamp.enqueue(i)

    def pending(self) -> int:
        backend = self.backend
        if hasattr(backend, "QUEUE_KEY"):  # 0.3.1
            key = backend.QUEUE_KEY.format(prefix=backend.key_prefix, queue_name="default")
        else:  # 0.4.0 and later: one sorted set per queue and status
            from django.tasks import TaskResultStatus

            key = backend._segment_key(TaskResultStatus.READY, "default")
        return backend.client.zcard(key)

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        processes, threads = POOL_SETTINGS[setting]
        argv = [sys.executable, str(PEERS_DIR / "peer_manage.py"), "threadmill", "worker"]
        argv += ["--workers", str(processes), "--threads", str(threads)]
        return argv, {}


if __name__ == "__main__":
    ThreadmillPypiDriver.run()
