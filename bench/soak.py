"""Soak run: many tasks through a 2 x 4 pool while a random worker is SIGKILLed every few
seconds; at the end the ledger must add up exactly.

    uv run python bench/soak.py --tasks 100000 --kill-every 3

Prints the counts (successful, failed, extra executions explained by a recorded worker
loss, lost, unexplained duplicates). Exit status 1 if anything is lost or ran twice without
a recorded loss. The test suite runs the same scenario with 5,000 tasks.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pool_helpers import Pool  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    with RedisServer(appendonly=True) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        os.environ["THREADMILL_TEST_REDIS_URL"] = server.url
        import django

        django.setup()
        from django.tasks import task_backends

        from tests import tasks
        from tests.faults import ledger

        backend = task_backends["default"]
        book = Path(tmp) / "ledger"
        ids = []
        for start in range(0, args.tasks, 10_000):
            n = min(10_000, args.tasks - start)
            ids += [r.id for r in backend.enqueue_many(tasks.ledger_nap, [((str(book),), {})] * n)]
        print(f"enqueued {len(ids):,} tasks")
        pool = Pool(
            server.url,
            "--processes",
            str(args.processes),
            "--threads",
            str(args.threads),
            options={"max_attempts": 50},
            log_dir=Path(tmp),
        )
        started, kills = time.monotonic(), 0
        try:
            while backend.queue_stats(["default"])[0].successful < len(ids):
                time.sleep(args.kill_every)
                workers = pool.workers()
                if workers and backend.queue_stats(["default"])[0].ready:
                    os.kill(random.choice(workers), signal.SIGKILL)
                    kills += 1
            elapsed = time.monotonic() - started
        finally:
            pool.close()
        report = ledger.check(backend, ids, book)
        print(f"drained in {elapsed:.1f}s with {kills} worker(s) SIGKILLed")
        print(f"statuses: { {str(k): v for k, v in report.statuses.items()} }")
        print(
            f"executions: {sum(report.executions.values()):,}, extra executions explained by "
            f"a recorded WorkerLost: {report.explained_duplicates}"
        )
        print(
            f"lost: {len(report.lost)}, unexplained duplicates: "
            f"{len(report.unexplained_duplicates)}, unexpected: {len(report.unexpected)}"
        )
        return 1 if report.lost or report.unexplained_duplicates or report.unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
