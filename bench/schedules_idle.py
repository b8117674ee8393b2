"""Redis commands/s of an idle pool with 100 periodic schedules, side by side with none.

    uv run python bench/schedules_idle.py [--rounds 3] [--seconds 10] [--schedules 100]

A 2x4 pool with no tasks runs for `--seconds` after booting; the Redis commands it sends
are counted from INFO commandstats. The schedules are hourly and none is due while it
measures: what is left is the cost of having them (their start-up read happens during the
boot, before counting). Rounds alternate between the two, and the medians are printed and
written to bench/results/side-by-side/<date>_schedules-idle_py<version>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import bench_idle_cost  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


def idle_commands_per_second(url: str, schedules: int, seconds: float) -> float:
    """bench/run.py's idle cost, with `schedules` hourly schedules in the pool's settings."""
    return bench_idle_cost(url, seconds, {"BENCH_SCHEDULES": str(schedules)} if schedules else {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--schedules", type=int, default=100)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"no schedules": [], f"{args.schedules} schedules": []}
    with RedisServer(appendonly=False) as server:
        for _ in range(args.rounds):
            figures["no schedules"].append(idle_commands_per_second(server.url, 0, args.seconds))
            figures[f"{args.schedules} schedules"].append(
                idle_commands_per_second(server.url, args.schedules, args.seconds)
            )
    medians = {k: statistics.median(v) for k, v in figures.items()}
    for name, value in medians.items():
        print(f"idle 2x4 pool, {name:<16} {value:6.1f} Redis commands/s  (rounds: {figures[name]})")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    path = (
        ROOT
        / "bench"
        / "results"
        / "side-by-side"
        / f"{stamp}_schedules-idle_py{platform.python_version()}.json"
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    path.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": " ".join(["python", "bench/schedules_idle.py", *sys.argv[1:]]),
                "commit": commit,
                "python": platform.python_version(),
                "medians": medians,
                "rounds": figures,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
