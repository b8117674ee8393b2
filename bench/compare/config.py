"""The settings of a run: how many rounds, how big each measurement is, how long each
window lasts. The defaults of a full run and of a `--quick` one are defined here only."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Config:
    runs: int  # rounds: each figure is the median over this many
    tasks: int  # tasks per drain (and per enqueue_many call)
    enqueue: int  # one-by-one enqueues per window, at most...
    enqueue_seconds: float  # ...or this long, whichever is first
    drain_cap: float  # a drain is cut off this long after its first stamp
    latency_samples: int  # per latency round, at most...
    latency_seconds: float  # ...or this long
    idle_seconds: float  # an idle-cost window
    idle_settle: float  # the wait after a pool's last task before its idle window
    sweep: bool  # drain in every setting of each system, not only 1x1
    sweep_rounds: int  # rounds that drain in every setting

    def as_dict(self) -> dict:
        return asdict(self)


def make_config(
    quick: bool,
    runs: int | None = None,
    tasks: int | None = None,
    sweep: bool | None = None,
    sweep_rounds: int = 1,
) -> Config:
    """A full run's settings, or a smoke run's (`quick`); flags given override them."""
    return Config(
        runs=runs or (1 if quick else 3),
        tasks=tasks or (2_000 if quick else 10_000),
        enqueue=1_000 if quick else 5_000,
        enqueue_seconds=2.0,
        drain_cap=2.0,
        latency_samples=50 if quick else 150,
        latency_seconds=3.0 if quick else 5.0,
        idle_seconds=5.0 if quick else 10.0,
        idle_settle=1.0 if quick else 2.0,
        sweep=(not quick) if sweep is None else sweep,
        sweep_rounds=sweep_rounds,
    )
