"""Driver for huey (RedisHuey).

The consumer is `huey_consumer huey_tasks.huey -k thread|process -w N -q`. Huey runs either
N worker threads in one process or N worker processes, not both, so 2 processes x 4 threads
has no exact equivalent: the idle pool is 8 worker threads (8 task slots).
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import PEERS_DIR, Driver

SETTINGS = {
    "1x1": ("thread", 1),
    "1x2": ("thread", 2),
    "2x1": ("process", 2),
    "2x4": ("thread", 8),
}


class HueyDriver(Driver):
    name = "huey"
    packages = ("huey", "redis")
    drain_settings = {
        "1x1": "1 worker thread (-k thread -w 1)",
        "2x1": "2 worker processes (-k process -w 2)",
        "1x2": "2 worker threads (-k thread -w 2)",
    }
    idle_setting = ("2x4", "8 worker threads in one process (-k thread -w 8)")

    def __init__(self) -> None:
        import huey_tasks

        self.tasks = huey_tasks

    def enqueue_noop(self) -> None:
        self.tasks.noop()

    def enqueue_stamp(self, i: int) -> None:
        self.tasks.stamp(i)

    def pending(self) -> int:
        return self.tasks.huey.pending_count()

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        kind, workers = SETTINGS[setting]
        exe = str(Path(sys.executable).parent / "huey_consumer")
        argv = [exe, "huey_tasks.huey", "-k", kind, "-w", str(workers), "-q"]
        return argv, {"PYTHONPATH": str(PEERS_DIR)}


if __name__ == "__main__":
    HueyDriver.run()
