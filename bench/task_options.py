"""What the task options cost on the per-task path, side by side in one run.

    uv run python bench/task_options.py [--rounds 5] [--tasks 10000]

The same no-op task without options and with a retry policy and a time limit (the options a
production task usually carries): drain of a 1x1 pool, idle enqueue-to-start latency of a
1x1 pool, and one-by-one enqueue; plus one-by-one enqueue of a `unique=True` task (one more
read and write inside the enqueue script). Rounds alternate between the variants, so drift
of a noisy machine hits both alike; the medians are printed and written to
bench/results/side-by-side/<date>_task-options_py<version>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import bench_drain, bench_latency, percentile, setup_django  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


def enqueue(n: int, task_name: str) -> float:
    from bench import tasks

    task = getattr(tasks, task_name)
    args = (0,) if task_name == "noop_unique" else ()
    task.enqueue(*args)
    start = time.perf_counter()
    if task_name == "noop_unique":
        for i in range(n):
            task.enqueue(i)  # distinct arguments: every call creates a task
    else:
        for _ in range(n):
            task.enqueue()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--enqueue", type=int, default=5_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    figures: dict[str, list] = {}

    def add(name: str, value: object) -> None:
        figures.setdefault(name, []).append(value)

    with RedisServer(appendonly=False) as server:
        setup_django(server.url)
        from django.tasks import task_backends

        for _ in range(args.rounds):
            for label, drained, stamped in (
                ("plain", "noop", "stamp"),
                ("retry+timeout", "noop_with_options", "stamp_with_options"),
            ):
                drained_per_s = bench_drain(server.url, args.tasks, 1, 1, task=drained)
                add(f"drain 1x1 {label} (tasks/s)", drained_per_s)
                lat = bench_latency(server.url, args.latency_samples, task=stamped)
                add(f"latency p50 {label} (ms)", percentile(lat, 50))
                add(f"latency p99 {label} (ms)", percentile(lat, 99))
            for label, name in (
                ("plain", "noop"),
                ("retry+timeout", "noop_with_options"),
                ("unique", "noop_unique"),
            ):
                task_backends["default"].store.client.flushall()
                add(f"enqueue one by one {label} (tasks/s)", enqueue(args.enqueue, name))
    medians = {
        name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
        for name, v in figures.items()
    }
    for name, m in medians.items():
        print(f"{name:<44} {m['median']:>10,.2f}   (min {m['min']:,.2f}, max {m['max']:,.2f})")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/task_options.py", *sys.argv[1:]]),
        "commit": commit,
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "medians": medians,
        "rounds": figures,
    }
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    path = (
        ROOT
        / "bench"
        / "results"
        / "side-by-side"
        / f"{stamp}_task-options_py{platform.python_version()}.json"
    )
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
