"""The schedule of a run: `cfg.runs` rounds, each measuring every system's enqueue,
enqueue_many and drains one system after the other (so that background load that comes
and goes spreads over all of them), then the idle-pool phase. Which drain settings a round
drains is decided here too."""

from __future__ import annotations

from bench.compare import Failed, log
from bench.compare import scenarios as scenario
from bench.compare.config import Config
from bench.compare.drivers import Runner, System
from bench.compare.idle_pools import idle_pools
from bench.compare.measurements import Results, record
from bench.compare.stats import best_setting


def drain_settings(
    results: Results, s: System, cfg: Config, round_no: int, chosen: dict[str, str | None]
) -> list[str]:
    """1x1 always; every other setting in the sweep rounds; after them, the setting that was
    best at the end of the sweep (chosen once, so that it gets every later round)."""
    settings = list(s.info["drain_settings"])
    if not cfg.sweep:
        return settings[:1]
    if round_no <= cfg.sweep_rounds:
        return settings
    if s.name not in chosen:
        chosen[s.name] = best_setting(results, s)
    best = chosen[s.name]
    return settings[:1] + ([best] if best and best != settings[0] else [])


def run_all(r: Runner, systems: list[System], cfg: Config) -> Results:
    """Every measurement of the run, for every system that installed and set up."""
    results: Results = {}
    chosen: dict[str, str | None] = {}
    snaps: dict[str, scenario.Snapshot | Failed] = {}
    ready = [s for s in systems if not s.error]
    for round_no in range(1, cfg.runs + 1):
        log(f"--- round {round_no} of {cfg.runs}")
        for s in ready:
            record(
                results,
                (s.name, "enqueue"),
                scenario.enqueue,
                r,
                s,
                cfg.enqueue,
                cfg.enqueue_seconds,
            )
            if s.info["has_bulk"]:
                record(results, (s.name, "enqueue_many"), scenario.enqueue_many, r, s, cfg.tasks)
        for s in ready:
            settings = list(s.info["drain_settings"])
            if s.name not in snaps:  # built once, restored before every drain of every round
                try:
                    snaps[s.name] = scenario.prepare_drain(r, s, cfg.tasks)
                except Failed as e:
                    snaps[s.name] = e
            for setting in drain_settings(results, s, cfg, round_no, chosen):
                record(
                    results,
                    (s.name, "drain", setting),
                    scenario.drain,
                    r,
                    s,
                    setting,
                    snaps[s.name],
                    cfg.drain_cap,
                    setting == settings[0],
                    round_no == 1,
                )
    idle_pools(ready, r.workdir, cfg, results)
    return results
