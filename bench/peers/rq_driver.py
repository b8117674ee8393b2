"""Driver for RQ.

1x1 is `rq worker` with its default Worker class, which forks a work horse per job; the
sweep adds `SimpleWorker` (no fork) and `rq worker-pool`. RQ workers have one task slot and
no threads: the idle pool is `rq worker-pool -n 8` (8 task slots).
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import PEERS_DIR, Driver, is_stamped, redis_url

SIMPLE = "rq.worker.SimpleWorker"
SETTINGS = {
    "1x1": ["worker"],
    "1x1-simple": ["worker", "--worker-class", SIMPLE],
    "2x1-simple": ["worker-pool", "-n", "2", "--worker-class", SIMPLE],
    "2x4": ["worker-pool", "-n", "8"],
}


class RqDriver(Driver):
    name = "rq"
    packages = ("rq", "redis")
    drain_settings = {
        "1x1": "rq worker (forks a work horse per job)",
        "1x1-simple": "rq worker, SimpleWorker (no fork)",
        "2x1-simple": "rq worker-pool -n 2, SimpleWorker",
    }
    idle_setting = ("2x4", "rq worker-pool -n 8 (8 task slots)")

    def __init__(self) -> None:
        import rq_tasks
        from redis import Redis
        from rq import Queue

        self.tasks = rq_tasks
        self.queue = Queue("default", connection=Redis.from_url(redis_url()))

    def enqueue_noop(self) -> None:
        self.queue.enqueue(self.tasks.noop)

    def enqueue_stamp(self, i: int) -> None:
        self.queue.enqueue(self.tasks.stamp, i)

    def fill(self, n: int) -> None:
        from rq import Queue

        batch = []
        for i in range(n):
            if is_stamped(i, n):
                batch.append(Queue.prepare_data(self.tasks.stamp, args=(i,)))
            else:
                batch.append(Queue.prepare_data(self.tasks.noop))
            if len(batch) == 500:
                self.queue.enqueue_many(batch)
                batch = []
        if batch:
            self.queue.enqueue_many(batch)

    def pending(self) -> int:
        return self.queue.count

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        exe = str(Path(sys.executable).parent / "rq")
        argv = [exe, *SETTINGS[setting], "--url", redis_url(), "--quiet", "default"]
        return argv, {"PYTHONPATH": str(PEERS_DIR)}


if __name__ == "__main__":
    RqDriver.run()
