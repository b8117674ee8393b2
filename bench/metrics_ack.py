"""What the run metrics cost on the per-task path, side by side in one run.

    uv run python bench/metrics_ack.py [--rounds 2] [--tasks 10000]

The same no-op task on an alias with run metrics (the default, metrics_window 24 h) and on
one without (`nometrics`, metrics_window 0): the acknowledge-and-lease call made in a loop
by one thread (client-side calls/s, and Redis's own time per EVALSHA from INFO
commandstats, which is the script's cost), and the drain of a 1x1 pool. Rounds alternate
between the variants; the medians are printed and written to
bench/results/side-by-side/<date>_metrics-ack_py<version>.json.
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
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import bench_drain, setup_django  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


def ack_loop(alias: str, n: int) -> tuple[float, float]:
    """Lease n tasks one by one, acknowledging each in the call that leases the next (as a
    worker thread does). Returns (calls/s, Redis µs per EVALSHA)."""
    from django.tasks import task_backends

    from bench import tasks

    backend = task_backends[alias]
    client = backend.store.client
    client.flushall()
    backend.enqueue_many(tasks.noop.using(backend=alias), [((), {})] * n)
    queues = ["default"]
    lease = backend.acquire("bench-worker", queues, uuid.uuid4().hex)
    client.config_resetstat()
    start = time.perf_counter()
    calls = 0
    while lease is not None:
        reply = backend.acknowledge(
            lease,
            "bench-worker",
            succeeded=True,
            value_json="null",
            next_token=uuid.uuid4().hex,
            queues=queues,
        )
        calls += 1
        lease = reply.next_lease
    elapsed = time.perf_counter() - start
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return calls / elapsed, float(stats.get("usec_per_call", 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    figures: dict[str, list] = {}

    def add(name: str, value: object) -> None:
        figures.setdefault(name, []).append(value)

    with RedisServer(appendonly=False) as server:
        setup_django(server.url)
        for _ in range(args.rounds):
            for label, alias in (("metrics", "default"), ("no metrics", "nometrics")):
                per_s, usec = ack_loop(alias, args.tasks)
                add(f"ack+lease loop {label} (calls/s)", per_s)
                add(f"ack+lease script {label} (Redis us/call)", usec)
                add(
                    f"drain 1x1 {label} (tasks/s)", bench_drain(server.url, args.tasks, 1, 1, alias)
                )
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
        "command": " ".join(["python", "bench/metrics_ack.py", *sys.argv[1:]]),
        "commit": commit,
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "medians": medians,
        "rounds": figures,
    }
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    name = f"{stamp}_metrics-ack_py{platform.python_version()}.json"
    path = ROOT / "bench" / "results" / "side-by-side" / name
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
