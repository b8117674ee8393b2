"""Make the dashboard captures in this directory from a real pool (takes about 3 minutes).

    uv run python docs/images/capture_dashboard.py

Starts a private redis-server and a `threadmill` pool of the example project (2 processes x
2 threads), feeds it the demo's sample tasks at a varying rate with one task that runs for
minutes, kills a worker process once (a crash), enqueues a burst near the end (a backlog),
samples the dashboard every second as the live screen does, then writes the last frame as
`dashboard.svg` / `dashboard.txt` (110 columns) and `dashboard-narrow.*` (60 columns), and
the per-task view (key `t`) of the same moment as `dashboard-tasks.*`.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "example_project"
WIDTH = 110
SECONDS = 170


def save(screen, name: str, width: int) -> None:
    """Write one rendered frame as NAME.svg and NAME.txt (trailing spaces trimmed)."""
    from rich.console import Console

    with open(os.devnull, "w") as devnull:
        console = Console(record=True, width=width, file=devnull)
        console.print(screen)
    text = console.export_text(clear=False)
    lines = [line.rstrip() for line in text.splitlines()]
    (HERE / f"{name}.txt").write_text("\n".join(lines) + "\n")
    console.save_svg(str(HERE / f"{name}.svg"), title="manage.py threadmill_top")


def main() -> None:
    sys.path[:0] = [str(ROOT), str(EXAMPLE)]
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        os.environ["REDIS_URL"] = server.url
        os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
        import django

        django.setup()
        from demo import tasks
        from django.tasks import task_backends
        from django.utils import timezone

        from threadmill.top.render import render_screen
        from threadmill.top.snapshot import Sampler

        pool = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "manage.py"), "threadmill"]
            + ["--processes", "2", "--threads", "2", "--graceful-timeout", "2"],
            env=os.environ,
            stderr=subprocess.DEVNULL,
        )
        try:
            sampler = Sampler(task_backends["default"])
            tasks.slow.enqueue(600)  # the long runner
            started = time.monotonic()
            killed = False
            snapshot = sampler.sample()
            n = 0
            while (elapsed := time.monotonic() - started) < SECONDS:
                rate = 6 + 5 * math.sin(elapsed / 25)  # tasks per second, rising and falling
                for _ in range(max(1, round(rate))):
                    n += 1
                    choice = random.random()
                    if choice < 0.5:
                        tasks.fast.enqueue(n)
                    elif choice < 0.6:
                        tasks.slow.enqueue(round(random.uniform(0.2, 1.5), 1))
                    elif choice < 0.75:
                        tasks.flaky.enqueue(0.2)
                    elif choice < 0.9:
                        tasks.send_email.enqueue(f"user{n}@example.com")
                    elif choice < 0.95:
                        tasks.urgent_report.enqueue(f"r{n}")
                    else:
                        when = timezone.now() + timedelta(seconds=random.randint(5, 60))
                        tasks.reminder.using(run_after=when).enqueue(f"reminder {n}")
                if elapsed > 60 and not killed:
                    # A crash (counted, and the worker replaced), sparing the long runner.
                    for worker in (w for p in snapshot.pools for w in p.workers):
                        if all((t.running_seconds or 0) < 30 for t in worker.threads):
                            os.kill(worker.pid, signal.SIGKILL)
                            killed = True
                            break
                if SECONDS - 5 <= elapsed < SECONDS - 4:  # a burst: a backlog to show
                    backend = task_backends["default"]
                    backend.enqueue_many(tasks.fast, [((i,), {}) for i in range(5000)])
                    emails = [((f"u{i}@example.com",), {}) for i in range(40)]
                    backend.enqueue_many(tasks.send_email, emails)
                time.sleep(1)
                snapshot = sampler.sample()
            for name, width in (("dashboard", WIDTH), ("dashboard-narrow", 60)):
                save(render_screen(snapshot, width), name, width)
            sampler.with_tasks = True  # the per-task view (key `t`) of the same pool
            tasks_frame = sampler.sample()
            save(render_screen(tasks_frame, WIDTH, view="tasks"), "dashboard-tasks", WIDTH)
            print((HERE / "dashboard.txt").read_text())
        finally:
            pool.send_signal(signal.SIGTERM)
            try:
                pool.wait(40)
            except subprocess.TimeoutExpired:
                pool.kill()


if __name__ == "__main__":
    main()
