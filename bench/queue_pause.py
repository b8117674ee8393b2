"""What pause support costs on the per-task path: this tree against an earlier commit, side
by side in one run.

    git archive <commit-before> | tar -x -C /tmp/threadmill-before
    uv run python bench/queue_pause.py --before /tmp/threadmill-before [--rounds 2]

Each round measures, in each tree in turn (the same Python, the same redis-server): the
drain of a 1x1 pool (`--exit-empty`: acquire + acknowledge scripts), the idle
enqueue-to-start latency of a 1x1 pool (park, and the hand-off in the enqueue script), and
one-by-one enqueue. Every round runs both trees, the next round in the other order, so
drift of a noisy machine hits both alike; the medians are printed and written to
bench/results/side-by-side/<date>_queue-pause_py<version>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402

#: Run in a tree's directory: that tree's bench.run and threadmill (cwd comes first).
CHILD = """
import json, sys
sys.path.insert(0, ".")
from bench.run import bench_drain, bench_enqueue, bench_latency, percentile, setup_django
url, tasks, samples, enqueues = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
setup_django(url)
import threadmill
drain = bench_drain(url, tasks, 1, 1)
lat = bench_latency(url, samples)
from django.tasks import task_backends
task_backends["default"].store.client.flushall()
print(json.dumps({"module": threadmill.__file__, "drain": drain,
                  "p50": percentile(lat, 50), "p99": percentile(lat, 99),
                  "enqueue": bench_enqueue(enqueues)}))
"""


def measure(tree: Path, url: str, args: argparse.Namespace) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            url,
            str(args.tasks),
            str(args.latency_samples),
            str(args.enqueue),
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    module = Path(figures.pop("module")).resolve()
    assert module.is_relative_to(tree.resolve()), f"{tree} ran {module}"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="an exported earlier tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--enqueue", type=int, default=3_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    figures: dict[str, list] = {}
    trees = (("before", args.before), ("pause support", ROOT))
    with RedisServer(appendonly=False) as server:
        for round_ in range(args.rounds):
            for label, tree in trees if round_ % 2 == 0 else trees[::-1]:
                got = measure(tree, server.url, args)
                figures.setdefault(f"drain 1x1 {label} (tasks/s)", []).append(got["drain"])
                figures.setdefault(f"latency p50 {label} (ms)", []).append(got["p50"])
                figures.setdefault(f"latency p99 {label} (ms)", []).append(got["p99"])
                figures.setdefault(f"enqueue one by one {label} (tasks/s)", []).append(
                    got["enqueue"]
                )
    medians = {
        name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
        for name, v in sorted(figures.items())
    }
    for name, m in medians.items():
        print(f"{name:<44} {m['median']:>10,.2f}   (min {m['min']:,.2f}, max {m['max']:,.2f})")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/queue_pause.py", *sys.argv[1:]]),
        "commit": commit,
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "medians": medians,
        "rounds": figures,
    }
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    name = f"{stamp}_queue-pause_py{platform.python_version()}.json"
    path = ROOT / "bench" / "results" / "side-by-side" / name
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
