"""What the busy-wait for replies (the `reply_spin` option) gives, side by side.

    uv run python bench/reply_spin.py [--runs 5] [--tasks 10000]

On a private redis-server, in interleaved rounds (so that background load hits both), with
the bench settings' two aliases: `default` (reply_spin at its default) and `nospin`
(reply_spin 0): enqueue one by one from this process, and drain pre-enqueued no-ops with a
real pool of 1 process x 1 thread and of 2 processes x 2 threads. Prints the medians, and
the median of the per-round ratios. Rerun it after a change to the spin, to the pool's rule
for when workers spin, or on a new kind of machine (docs/performance.md, "Tuning").
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import bench_drain, bench_enqueue, setup_django  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

ALIASES = ("default", "nospin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--enqueue", type=int, default=5_000)
    args = parser.parse_args()
    scenarios = {
        "enqueue, one by one": lambda url, alias: bench_enqueue(args.enqueue, alias),
        "drain 1x1": lambda url, alias: bench_drain(url, args.tasks, 1, 1, alias),
        "drain 2x2": lambda url, alias: bench_drain(url, args.tasks, 2, 2, alias),
    }
    figures = {(s, a): [] for s in scenarios for a in ALIASES}
    with RedisServer(appendonly=False) as server:
        setup_django(server.url)
        for _ in range(args.runs):
            for scenario, measure in scenarios.items():
                for alias in ALIASES:
                    figures[scenario, alias].append(measure(server.url, alias))
    for scenario in scenarios:
        spin, nospin = figures[scenario, "default"], figures[scenario, "nospin"]
        ratio = statistics.median(a / b for a, b in zip(spin, nospin, strict=True))
        print(
            f"{scenario:20} reply_spin default {statistics.median(spin):8,.0f} tasks/s, "
            f"0 {statistics.median(nospin):8,.0f} tasks/s: {ratio:.2f}x "
            f"(per round: {', '.join(f'{a / b:.2f}' for a, b in zip(spin, nospin, strict=True))})"
        )


if __name__ == "__main__":
    main()
