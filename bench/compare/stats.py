"""The arithmetic over rounds: a figure's median and min-max, latency percentiles, and which
drain setting of a system is its best. Shared by the schedule (which setting gets the later
rounds) and the Markdown tables."""

from __future__ import annotations

import statistics

from bench.compare.drivers import System
from bench.compare.measurements import Results, runs_of


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile q (0-100) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def values_of(results: Results, key: tuple, field_: str) -> tuple[list[float], list[str]]:
    """The rounds' values of one field (e.g. "rate") of a figure, and its failures."""
    runs = runs_of(results, key)
    values = [v[field_] for v in runs if "error" not in v and v.get(field_) is not None]
    errors = [v["error"] for v in runs if "error" in v]
    return values, errors


def best_setting(results: Results, s: System) -> str | None:
    """The drain setting with the highest median so far."""
    best = None
    for setting in s.info.get("drain_settings", {}):
        values, _ = values_of(results, (s.name, "drain", setting), "rate")
        if values and (best is None or statistics.median(values) > best[0]):
            best = (statistics.median(values), setting)
    return best and best[1]


def best_drain_setting(results: Results, s: System) -> str | None:
    """The best setting among those measured in every round (the sweep-only ones have fewer
    runs: one lucky run must not win)."""
    settings = s.info.get("drain_settings", {})
    most = max((len(runs_of(results, (s.name, "drain", st))) for st in settings), default=0)
    best = None
    for setting in settings:
        values, _ = values_of(results, (s.name, "drain", setting), "rate")
        runs = len(runs_of(results, (s.name, "drain", setting)))
        if not values or runs < most:
            continue
        med = statistics.median(values)
        if best is None or med > best[0]:
            best = (med, setting)
    return None if best is None else best[1]


def memory_values(results: Results, key: tuple, which: str) -> list[float]:
    """RSS in MiB of the master or of the largest child ("worker"), round by round."""
    mems = [v["memory"] for v in runs_of(results, key) if "memory" in v]
    return [m[which] for m in mems if m[which] is not None]
