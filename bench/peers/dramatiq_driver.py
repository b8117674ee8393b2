"""Driver for dramatiq (Redis broker, default middleware).

The worker is `dramatiq dramatiq_tasks --processes P --threads T` (its CLI's defaults
otherwise, e.g. prefetch of 2 messages per thread).
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import PEERS_DIR, Driver

SETTINGS = {"1x1": (1, 1), "1x8": (1, 8), "2x8": (2, 8), "2x4": (2, 4)}


class DramatiqDriver(Driver):
    name = "dramatiq"
    packages = ("dramatiq", "redis")
    drain_settings = {
        "1x1": "1 process x 1 thread",
        "1x8": "1 process x 8 threads",
        "2x8": "2 processes x 8 threads (the CLI's default on 2 cores)",
    }
    idle_setting = ("2x4", "2 processes x 4 threads")

    def __init__(self) -> None:
        import dramatiq_tasks

        self.tasks = dramatiq_tasks

    def enqueue_noop(self) -> None:
        self.tasks.noop.send()

    def enqueue_stamp(self, i: int) -> None:
        self.tasks.stamp.send(i)

    def pending(self) -> int:
        return self.tasks.broker.client.llen("dramatiq:default")

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        processes, threads = SETTINGS[setting]
        exe = str(Path(sys.executable).parent / "dramatiq")
        argv = [exe, "dramatiq_tasks", "--path", str(PEERS_DIR)]
        argv += ["--processes", str(processes), "--threads", str(threads)]
        return argv, {}


if __name__ == "__main__":
    DramatiqDriver.run()
