"""The arithmetic over rounds: a figure's median and min-max, latency percentiles, and which
drain setting of a system is its best. Shared by the schedule (which setting gets the later
rounds), the Markdown tables and the JSON data file, so that all three agree."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

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


@dataclass
class Summary:
    """A figure over the rounds: median, min and max of the rounds that succeeded."""

    median: float
    min: float
    max: float
    runs: int  # rounds with a value
    failed: int = 0  # rounds that failed

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(values: list[float], failed: int = 0) -> Summary | None:
    if not values:
        return None
    return Summary(statistics.median(values), min(values), max(values), len(values), failed)


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


def figures(results: Results, s: System) -> dict:
    """Every figure of a system as {name: Summary as a dict}: what the tables show, as
    numbers. A figure with no successful round is left out (its rounds say why)."""
    out: dict = {}

    def put(name: str, key: tuple, field_: str, **extra) -> None:
        values, errors = values_of(results, key, field_)
        summary = summarize(values, len(errors))
        if summary is not None:
            out[name] = {**summary.as_dict(), **extra}

    settings = s.info.get("drain_settings", {})
    for setting, what in settings.items():
        capped = sum(1 for v in runs_of(results, (s.name, "drain", setting)) if v.get("partial"))
        key = (s.name, "drain", setting)
        put(f"drain {setting} (tasks/s)", key, "rate", setting=what, capped=capped)
    best = best_drain_setting(results, s)
    if best is not None and f"drain {best} (tasks/s)" in out:
        out["drain, best setting"] = best
    put("enqueue, one by one (tasks/s)", (s.name, "enqueue"), "rate")
    if s.info.get("has_bulk"):
        put("enqueue_many (tasks/s)", (s.name, "enqueue_many"), "rate")
    for p in ("p50", "p95", "p99"):
        put(f"latency {p} (ms)", (s.name, "latency"), p)
    samples = sum(
        len(v["samples"]) for v in runs_of(results, (s.name, "latency")) if "samples" in v
    )
    if samples:
        out["latency samples"] = samples
    if s.info.get("uses_redis", True):
        put("idle pool: Redis commands/s", (s.name, "idle"), "redis")
    else:
        put("idle pool: SQL statements/s", (s.name, "idle"), "sql")
    if settings:
        first = (s.name, "drain", next(iter(settings)))
        for which in ("master", "worker"):
            summary = summarize(memory_values(results, first, which))
            if summary is not None:
                out[f"RSS {which} after the 1x1 drain (MiB)"] = summary.as_dict()
    return out
