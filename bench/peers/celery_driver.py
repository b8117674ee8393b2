"""Driver for celery (Redis broker, prefork pool).

The worker is `celery -A celery_tasks worker -P prefork -c N --loglevel WARNING` with
celery's defaults otherwise (prefetch multiplier 4, gossip, mingle and heartbeats on, early
acknowledgement). Prefork has one task slot per child process and no threads inside: the
idle pool is 8 children (8 task slots). Celery's main process receives every message and
hands it to a child, so on 2 cores the sweep also runs two separate worker instances.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import PEERS_DIR, Driver, is_stamped

#: setting -> (worker instances, prefork concurrency of each)
SETTINGS = {"1x1": (1, 1), "2x1": (1, 2), "2i": (2, 1), "2x4": (1, 8)}


class CeleryDriver(Driver):
    name = "celery"
    packages = ("celery", "kombu", "redis")
    drain_settings = {
        "1x1": "prefork, concurrency 1",
        "2x1": "prefork, concurrency 2",
        "2i": "2 worker instances, each prefork with concurrency 1",
    }
    idle_setting = ("2x4", "prefork, concurrency 8 (8 task slots)")

    def __init__(self) -> None:
        import celery_tasks

        self.tasks = celery_tasks

    def enqueue_noop(self) -> None:
        self.tasks.noop.delay()

    def enqueue_stamp(self, i: int) -> None:
        self.tasks.stamp.delay(i)

    def fill(self, n: int) -> None:
        # One producer connection for the whole set-up (not timed; delay() is timed).
        with self.tasks.app.producer_or_acquire() as producer:
            for i in range(n):
                if is_stamped(i, n):
                    self.tasks.stamp.apply_async((i,), producer=producer)
                else:
                    self.tasks.noop.apply_async(producer=producer)

    def pending(self) -> int:
        with self.tasks.app.connection_for_write() as conn:
            return conn.default_channel.client.llen("celery")

    def instances(self, setting: str) -> int:
        return SETTINGS[setting][0]

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        exe = str(Path(sys.executable).parent / "celery")
        argv = [exe, "-A", "celery_tasks", "worker", "-P", "prefork"]
        argv += ["-c", str(SETTINGS[setting][1]), "--loglevel", "WARNING"]
        argv += ["-n", f"bench{index}@%h"]  # instances need distinct node names
        return argv, {"PYTHONPATH": str(PEERS_DIR)}


if __name__ == "__main__":
    CeleryDriver.run()
