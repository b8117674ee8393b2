"""Driver for Threadmill from this repository (its own environment: `uv sync`).

Configured as `bench/run.py` is: `bench.settings` (per-task log lines off, as for the peers)
with the private Redis, and the pool run as
`python -m django threadmill --processes P --threads T --log-level WARNING`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from bench.peers.common import (  # noqa: E402
    POOL_DRAIN_SETTINGS,
    POOL_IDLE_SETTING,
    POOL_SETTINGS,
    Driver,
    is_stamped,
)
from bench.run import django_env, setup_django  # noqa: E402


class ThreadmillDriver(Driver):
    name = "threadmill"
    packages = ("threadmill", "django", "redis")
    drain_settings = POOL_DRAIN_SETTINGS
    idle_setting = POOL_IDLE_SETTING
    has_bulk = True

    def __init__(self) -> None:
        setup_django(os.environ["BENCH_REDIS_URL"])
        from django.tasks import task_backends

        from bench.peers import threadmill_tasks

        self.tasks = threadmill_tasks
        self.backend = task_backends["default"]

    def info(self) -> dict:
        out = super().info()
        out["versions"]["threadmill"] = "this repository"
        return out

    def enqueue_noop(self) -> None:
        self.tasks.noop.enqueue()

    def enqueue_stamp(self, i: int) -> None:
        self.tasks.stamp.enqueue(i)

    def enqueue_many_noop(self, n: int) -> None:
        self.backend.enqueue_many(self.tasks.noop, [((), {})] * n)

    def fill(self, n: int) -> None:
        # enqueue_many keeps FIFO order within a call; the stamps go in one call per run of
        # no-ops so that task i is the i-th to be taken.
        noops: list = []
        for i in range(n):
            if is_stamped(i, n):
                if noops:
                    self.backend.enqueue_many(self.tasks.noop, noops)
                    noops = []
                self.tasks.stamp.enqueue(i)
            else:
                noops.append(((), {}))
        if noops:
            self.backend.enqueue_many(self.tasks.noop, noops)

    def pending(self) -> int:
        # The inspection API (as the admin pages read it), not Threadmill's key layout.
        return sum(stats.ready for stats in self.backend.queue_stats(self.backend.queues))

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        processes, threads = POOL_SETTINGS[setting]
        argv = [sys.executable, "-m", "django", "threadmill", "--log-level", "WARNING"]
        argv += ["--processes", str(processes), "--threads", str(threads)]
        os.chdir(ROOT)
        return argv, django_env(os.environ["BENCH_REDIS_URL"])


if __name__ == "__main__":
    ThreadmillDriver.run()
