"""The Markdown tables a run prints: the machine and the command, drain and enqueue per
system, latency, idle cost and memory per system, every drain setting, and the idle pools.
A cell reads "median (min-max)"; "failed: reason" where no round succeeded."""

from __future__ import annotations

import statistics

from bench.compare.drivers import System
from bench.compare.measurements import Results, runs_of
from bench.compare.stats import best_drain_setting, memory_values, values_of

DASH, TIMES = "\u2013", "\u00d7"  # the tables' en dash and multiplication sign


def fmt_num(x: float, digits: int) -> str:
    return f"{x:,.{digits}f}"


def cell(results: Results, key: tuple, field_: str, digits: int = 0) -> str:
    """The median (min-max) of a field over the rounds, with the failed rounds if any."""
    values, errors = values_of(results, key, field_)
    if not values:
        return f"failed: {errors[0]}" if errors else "n/a"
    med = statistics.median(values)
    text = fmt_num(med, digits)
    if len(values) > 1:
        text += f" ({fmt_num(min(values), digits)}{DASH}{fmt_num(max(values), digits)})"
    if errors:
        text += f" [{len(errors)} of {len(values) + len(errors)} runs failed: {errors[0]}]"
    return text


def drain_cell(results: Results, key: tuple) -> str:
    """A drain's rate, marked † where drains were cut off and ⚠ where tasks were left."""
    text = cell(results, key, "rate")
    runs = runs_of(results, key)
    partial = [v for v in runs if v.get("partial")]
    if partial:
        tasks = statistics.median(v["tasks"] for v in partial)
        text += f" †{len(partial)} run(s) capped after ~{tasks:,.0f} tasks"
    leftover = [v["pending_after"] for v in runs if v.get("pending_after")]
    if leftover:
        text += f" ⚠ {max(leftover)} tasks still pending after the last stamp"
    return text


def memory_cell(results: Results, key: tuple, which: str) -> str:
    runs = runs_of(results, key)
    mems = [v["memory"] for v in runs if "memory" in v]
    if not mems:
        errors = [v["error"] for v in runs if "error" in v]
        return f"failed: {errors[0]}" if errors else "n/a"
    if which == "worker" and all(m["worker"] is None for m in mems):
        return "same process"
    values = memory_values(results, key, which)
    text = fmt_num(statistics.median(values), 1)
    if len(values) > 1:
        text += f" ({fmt_num(min(values), 1)}{DASH}{fmt_num(max(values), 1)})"
    partial = [v["tasks"] for v in runs if "memory" in v and v.get("partial")]
    if partial:
        text += f" †after ~{statistics.median(partial):,.0f} tasks"
    return text


def best_drain(results: Results, s: System) -> str:
    setting = best_drain_setting(results, s)
    if setting is None:
        return "n/a"
    what = s.info["drain_settings"][setting]
    return f"{drain_cell(results, (s.name, 'drain', setting))}: {what}"


def samples(results: Results, s: System) -> str:
    runs = runs_of(results, (s.name, "latency"))
    return f"{sum(len(v['samples']) for v in runs if 'samples' in v):,}"


def version_of(s: System) -> str:
    versions = s.info.get("versions", {})
    if s.name == "threadmill":
        return "this repository"
    main = {"threadmill-pypi": "threadmill"}.get(s.name, s.name)
    if main in versions:
        return versions[main]
    return "?"  # the driver never reported (the system failed before it could)


def markdown(systems: list[System], results: Results, meta: dict) -> str:
    lines = []
    m = meta["machine"]
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; "
        f"Python {meta['python']}; Redis {meta['redis']} (private, persistence off). "
        f"{meta['runs']} runs per figure: median (min{DASH}max). "
        f"Wall time of the run: {meta['wall_minutes']:.1f} min. Load average (1, 5, 15 min) "
        f"at the start {'/'.join(map(str, meta['load'][:3]))}, at the end "
        f"{'/'.join(map(str, meta['load'][3:]))}: other work on the machine shares its cores."
    )
    with_hiredis = [s.name for s in systems if s.info.get("hiredis")]
    lines.append("")
    lines.append(
        "redis-py's reply parser: "
        + (
            f"hiredis (C) for {', '.join(with_hiredis)}, pure Python for the others."
            if with_hiredis
            else "pure Python for every system (hiredis is not installed in any environment)."
        )
    )
    lines.append("")
    lines.append(f"Command: `{meta['command']}`")
    lines.append("")
    lines.append(
        f"| System | Version | Drain 1{TIMES}1 (tasks/s) "
        "| Drain, best setting on 2 cores (tasks/s) | Enqueue, one by one (tasks/s) |"
    )
    lines.append("| --- | --- | --- | --- | --- |")
    for s in systems:
        if s.error:
            lines.append(f"| {s.name} | {version_of(s)} | failed: {s.error} | | |")
            continue
        first = next(iter(s.info["drain_settings"]))
        lines.append(
            f"| {s.name} | {version_of(s)} | {drain_cell(results, (s.name, 'drain', first))} "
            f"| {best_drain(results, s)} | {cell(results, (s.name, 'enqueue'), 'rate')} |"
        )
        if s.info.get("has_bulk"):
            lines.append(
                f"| {s.name} `enqueue_many` | | | | "
                f"{cell(results, (s.name, 'enqueue_many'), 'rate')} |"
            )
    lines.append("")
    lines.append(
        "| System | Latency p50 (ms) | p95 (ms) | p99 (ms) | Samples | Idle pool: Redis commands/s "
        "| RSS master (MiB) | RSS worker (MiB) |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in systems:
        if s.error:
            lines.append(f"| {s.name} | failed: {s.error} | | | | | | |")
            continue
        first = next(iter(s.info["drain_settings"]))
        idle = cell(results, (s.name, "idle"), "redis", 1)
        if not s.info["uses_redis"]:
            idle = f"n/a (SQLite: {cell(results, (s.name, 'idle'), 'sql', 1)} SQL statements/s)"
        lines.append(
            f"| {s.name} | {cell(results, (s.name, 'latency'), 'p50', 2)} "
            f"| {cell(results, (s.name, 'latency'), 'p95', 2)} "
            f"| {cell(results, (s.name, 'latency'), 'p99', 2)} | {samples(results, s)} | {idle} "
            f"| {memory_cell(results, (s.name, 'drain', first), 'master')} "
            f"| {memory_cell(results, (s.name, 'drain', first), 'worker')} |"
        )
    lines.append("")
    lines.append(
        f"Drain settings (tasks/s, median (min{DASH}max); a setting that was not the best "
        "after the sweep was measured in the sweep round(s) only):"
    )
    lines.append("")
    lines.append("| System | Setting | What it is | Runs | Drain (tasks/s) |")
    lines.append("| --- | --- | --- | --- | --- |")
    for s in systems:
        if s.error:
            continue
        for setting, what in s.info["drain_settings"].items():
            key = (s.name, "drain", setting)
            runs = len(runs_of(results, key))
            if runs:
                lines.append(
                    f"| {s.name} | {setting} | {what} | {runs} | {drain_cell(results, key)} |"
                )
    lines.append("")
    lines.append(f"Idle pools (the nearest equivalent of 2 processes {TIMES} 4 threads):")
    lines.append("")
    for s in systems:
        if not s.error:
            lines.append(f"- {s.name}: {s.info['idle_setting'][1]}")
    return "\n".join(lines) + "\n"
