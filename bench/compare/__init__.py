"""Threadmill side by side with its peers: one command, one machine, one private Redis.

    uv run python -m bench.compare                 # the full run (~6 min on 2 cores)
    uv run python -m bench.compare --quick         # a smoke run (~1.5 min)
    uv run python -m bench.compare --systems threadmill,huey --runs 5

Systems: threadmill (this repository, in its own environment), the published threadmill
release, dramatiq, huey, celery, RQ and django-tasks-db; the pinned versions are in
`bench/peers/versions.py`. Each peer is installed into a private virtual environment under
`--env-dir` (built once with uv, reused while the pins are unchanged) and driven by
`bench/peers/<system>_driver.py`, a script with a common command line (see
`bench/peers/common.py`). Nothing of a peer is imported here: this package only starts the
drivers and their workers, reads Redis and /proc, and writes the results.

One redis-server (persistence off: no RDB snapshots, no AOF) serves every system and is
flushed before each measurement; only the idle pools, which idle side by side, get one
each. The scenarios run in rounds: each round measures every system once, so drifting
background load spreads over all of them. Each figure is the median and min-max over the
rounds. A system or figure that fails is reported as "failed: reason" and the run goes on.
A run prints the Markdown tables and writes every round's figures to a JSON file under
`bench/results/`. See docs/performance.md for what each figure means.

The modules, in the order a run uses them:

    __main__       the command line: flags -> Config, then the run, then the outputs
    config         Config: the run's rounds, sizes and windows (full and --quick)
    environments   each peer's private virtual environment, built with uv
    drivers        System, the serving driver processes and the workers they start
    processes      /proc: a worker's process family, its memory, the CPU; stopping it
    scenarios      one measurement each: enqueue, enqueue_many, drain, latency
    rounds         the schedule: enqueue and drain rounds, then the idle pools
    idle_pools     every system's idle pool: latency rounds and idle-cost windows
    measurements   where every measurement (or its failure) is kept during a run
    stats          medians, min-max, percentiles, the best drain setting
    report         the Markdown tables
    results        the JSON data file under bench/results/ and the machine it ran on
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PEERS = ROOT / "bench" / "peers"


class Failed(Exception):
    """A driver, a worker or an install failed; the message becomes the table's cell."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line(text: str, limit: int = 160) -> str:
    """The last non-empty line of text, cut to `limit` characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= limit else line[: limit - 1] + "…"
