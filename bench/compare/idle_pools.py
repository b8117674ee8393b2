"""The idle-pool phase, last in a run: every system's idle pool (2 processes x 4 threads or
the nearest equivalent) booted once, on a redis-server of its own, then measured for
enqueue -> start latency in rounds, with an idle-cost window (Redis commands/s, or SQL
statements/s) after each of its rounds."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.compare import Failed, log
from bench.compare import scenarios as scenario
from bench.compare.config import Config
from bench.compare.drivers import Runner, System
from bench.compare.measurements import Results, record, store
from bench.compare.processes import cpu_busy
from tests.redis_server import RedisServer


def wait_until_quiet(least: float, most: float, busy_below: float = 0.15) -> float:
    """Sleep `least` seconds, then until the CPUs were less than `busy_below` busy over half
    a second, or `most` seconds in all; returns the seconds waited. A pool answers its first
    task before all its processes have booted (django-tasks-db's 8 db_workers take seconds
    of CPU), and the first latency round would pay for the rest."""
    began = time.monotonic()
    time.sleep(least)
    while time.monotonic() - began < most and cpu_busy(0.5) >= busy_below:
        pass
    return time.monotonic() - began


def count_queries(directory: Path) -> int:
    return sum(int(p.read_text() or 0) for p in directory.iterdir())


@dataclass
class IdlePool:
    """A system's idle pool, booted on a redis-server of its own."""

    system: System
    runner: Runner
    proc: subprocess.Popen
    queries: Path  # where django-tasks-db's statement counters go


def idle_window(pool: IdlePool, cfg: Config, results: Results) -> None:
    """One idle-cost window: `cfg.idle_settle` after the pool's last task, its Redis
    commands (and SQL statements) over `cfg.idle_seconds`, from `INFO commandstats`."""
    s, r = pool.system, pool.runner

    def calls() -> int:
        return sum(v["calls"] for v in r.client.info("commandstats").values())

    try:
        time.sleep(cfg.idle_settle)
        before, q_before = calls(), count_queries(pool.queries)
        time.sleep(cfg.idle_seconds)
        after, q_after = calls(), count_queries(pool.queries)
        r.check_alive(pool.proc)
    except Exception as e:  # a Failed, or Redis gone: report it, keep going
        store(results, (s.name, "idle"), e, cfg.idle_seconds)
        return
    # The first INFO is counted by the second one.
    result = {"redis": (after - before - 1) / cfg.idle_seconds}
    if not s.info["uses_redis"]:
        result["sql"] = (q_after - q_before) / cfg.idle_seconds
    store(results, (s.name, "idle"), result, cfg.idle_seconds)


def latency_rounds(lane: str, pools: list[IdlePool], cfg: Config, results: Results) -> None:
    """`cfg.runs` latency rounds over pools, one pool at a time. After each round of a pool,
    its idle window runs in a thread while the other pools are measured; the pool's next
    round waits for that window to end."""
    windows: dict[str, threading.Thread] = {}
    for round_no in range(1, cfg.runs + 1):
        log(f"--- idle pools: latency, round {round_no} of {cfg.runs}{lane}")
        for pool in pools:
            s = pool.system
            if s.name in windows:
                windows[s.name].join()
            record(
                results,
                (s.name, "latency"),
                scenario.latency,
                pool.runner,
                s,
                pool.proc,
                cfg.latency_samples,
                cfg.latency_seconds,
            )
            windows[s.name] = threading.Thread(
                target=idle_window, args=(pool, cfg, results), daemon=True
            )
            windows[s.name].start()
    for window in windows.values():
        window.join()


def idle_pools(systems: list[System], workdir: Path, cfg: Config, results: Results) -> None:
    """The idle pool of every system (2 processes x 4 threads or the nearest equivalent):
    its enqueue -> start latency in `cfg.runs` rounds, and after each round its Redis
    commands/s (and, for SQLite, SQL statements/s) in an idle window.

    Every pool runs from the start of this phase to its end, each against a redis-server of
    its own (same binary, same flags as the main one), so that `INFO commandstats` counts
    one system's commands. An idle pool uses next to no CPU, so a pool's idle window runs
    while the other pools are measured for latency; booting each pool once for both
    scenarios saves minutes per run. A slow poller (django-tasks-db polls once a second:
    a round takes ~12 s for 20 samples) has its rounds run beside the others', in a thread:
    its one task a second does not move the others' figures, nor their milliseconds its
    own, which its poll interval sets."""
    with contextlib.ExitStack() as stack:
        running = []
        for s in systems:
            try:
                server = stack.enter_context(RedisServer(appendonly=False))
                r = Runner(server, workdir)  # the workdir holds django-tasks-db's SQLite file
                stack.callback(r.close)
                queries = Path(tempfile.mkdtemp(prefix=f"queries-{s.name}-", dir=workdir))
                extra = {} if s.info["uses_redis"] else {"BENCH_COUNT_QUERIES": str(queries)}
                if not s.info["uses_redis"]:
                    r.call(s, "reset", timeout=120)
                proc = stack.enter_context(r.worker(s, s.info["idle_setting"][0], extra))
                running.append(IdlePool(s, r, proc, queries))
            except Failed as e:
                for _ in range(cfg.runs):
                    store(results, (s.name, "idle"), e, 0.0)
        booted = []
        for pool in running:
            try:
                pool.runner.probe(pool.system, pool.proc)
                booted.append(pool)
            except Failed as e:
                for _ in range(cfg.runs):
                    store(results, (pool.system.name, "idle"), e, 0.0)
        waited = wait_until_quiet(cfg.idle_settle, 20.0)  # the other workers finish booting
        log(f"--- idle pools: booted, the machine quiet after {waited:.1f} s")
        slow = [p for p in booted if p.system.info.get("slow_poller")]
        beside = threading.Thread(
            target=latency_rounds, args=(" (slow pollers)", slow, cfg, results), daemon=True
        )
        beside.start()
        latency_rounds("", [p for p in booted if p not in slow], cfg, results)
        beside.join()
