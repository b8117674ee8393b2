"""Threadmill's own figures: enqueue and drain throughput, idle latency, idle Redis cost.

    uv run python bench/run.py [--runs 3] [--tasks 10000]

Starts a private redis-server (persistence off, so the figures measure Threadmill, not the
disk), runs each scenario `--runs` times and prints the median and min-max. Figures are
printed, never asserted: the machines are shared and noisy, compare within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402


def django_env(url: str) -> dict[str, str]:
    """The environment that points Django at bench.settings and Threadmill at url."""
    return {"DJANGO_SETTINGS_MODULE": "bench.settings", "THREADMILL_TEST_REDIS_URL": url}


def setup_django(url: str) -> None:
    os.environ.update(django_env(url))
    import django

    django.setup()


def pool(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **django_env(url), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "django", "threadmill", "--log-level", "WARNING", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summary(values: list[float], unit: str, digits: int = 0) -> str:
    med = statistics.median(values)
    return (
        f"{med:,.{digits}f} {unit} (min {min(values):,.{digits}f}, max {max(values):,.{digits}f})"
    )


def bench_enqueue(n: int, alias: str = "default") -> float:
    from bench import tasks

    noop = tasks.noop.using(backend=alias)
    noop.enqueue()
    start = time.perf_counter()
    for _ in range(n):
        noop.enqueue()
    return n / (time.perf_counter() - start)


def bench_enqueue_many(n: int) -> float:
    from django.tasks import task_backends

    from bench import tasks

    start = time.perf_counter()
    task_backends["default"].enqueue_many(tasks.noop, [((), {})] * n)
    return n / (time.perf_counter() - start)


def bench_drain(
    url: str, n: int, processes: int, threads: int, alias: str = "default", task: str = "noop"
) -> float:
    """Tasks/s between the first and the last finish (net of pool start-up)."""
    from django.tasks import task_backends

    from bench import tasks

    backend = task_backends[alias]
    backend.store.client.flushall()
    backend.enqueue_many(getattr(tasks, task).using(backend=alias), [((), {})] * n)
    p = pool(
        url,
        *("--backend", alias, "--processes", str(processes), "--threads", str(threads)),
        "--exit-empty",
    )
    p.wait(600)
    index = backend.keys.index("default", "successful")
    first = backend.store.client.zrange(index, 0, 0, withscores=True)[0][1]
    last = backend.store.client.zrange(index, -1, -1, withscores=True)[0][1]
    done = backend.store.client.zcard(index)
    assert done == n, f"only {done} of {n} tasks finished"
    return (n - 1) / max((last - first) / 1000, 1e-3)


def bench_latency(url: str, samples: int, task: str = "stamp") -> list[float]:
    """Enqueue -> task start on an idle 1x1 pool, in ms (wall clock, same host)."""
    from django.tasks import task_backends

    from bench import tasks

    stamp = getattr(tasks, task)
    client = task_backends["default"].store.client
    client.flushall()
    p = pool(url, "--processes", "1", "--threads", "1")
    try:
        stamp.enqueue()
        client.blpop(["bench:started"], timeout=30)
        latencies = []
        for _ in range(samples):
            time.sleep(0.02)  # let the worker go idle again: idle latency is what we measure
            sent = time.time()
            stamp.enqueue()
            _, started = client.blpop(["bench:started"], timeout=10)
            latencies.append((float(started) - sent) * 1000)
        return latencies
    finally:
        p.terminate()
        p.wait(30)


def bench_idle_cost(url: str, seconds: float, env: dict[str, str] | None = None) -> float:
    """Redis commands per second issued by an idle 2 x 4 pool (env: more of its variables)."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    p = pool(url, "--processes", "2", "--threads", "4", env=env)
    try:
        time.sleep(3)  # boot
        before = sum(v["calls"] for v in client.info("commandstats").values())
        time.sleep(seconds)
        after = sum(v["calls"] for v in client.info("commandstats").values())
        return (after - before - 1) / seconds
    finally:
        p.terminate()
        p.wait(30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--enqueue", type=int, default=5_000)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()

    with RedisServer(appendonly=False) as server:
        setup_django(server.url)
        import django
        import redis

        print(
            f"Threadmill benchmark: {platform.platform()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, Django {django.get_version()}, "
            f"redis-py {redis.__version__}, {server.version()} server"
        )
        print(f"runs per figure: {args.runs}; median (min, max)\n")
        print(
            "enqueue, one by one:   ",
            summary([bench_enqueue(args.enqueue) for _ in range(args.runs)], "tasks/s"),
        )
        print(
            "enqueue_many:          ",
            summary([bench_enqueue_many(args.tasks) for _ in range(args.runs)], "tasks/s"),
        )
        best = None
        for processes, threads in [(1, 1), (2, 1), (2, 2), (2, 4)]:
            figures = [
                bench_drain(server.url, args.tasks, processes, threads) for _ in range(args.runs)
            ]
            label = f"drain {args.tasks:,} no-ops, {processes}x{threads}:"
            print(f"{label:<36}", summary(figures, "tasks/s"))
            if best is None or statistics.median(figures) > best[0]:
                best = (statistics.median(figures), processes, threads)
        print(f"best drain setting: {best[1]} process(es) x {best[2]} thread(s)")
        latencies = []
        for _ in range(args.runs):
            latencies += bench_latency(server.url, args.latency_samples)
        print(
            f"latency enqueue->start, idle 1x1 pool: p50 {percentile(latencies, 50):.2f} ms, "
            f"p95 {percentile(latencies, 95):.2f} ms, p99 {percentile(latencies, 99):.2f} ms "
            f"({len(latencies)} samples)"
        )
        print(
            "idle cost, 2x4 pool:   ",
            summary(
                [bench_idle_cost(server.url, args.idle_seconds) for _ in range(args.runs)],
                "Redis commands/s",
                1,
            ),
        )


if __name__ == "__main__":
    main()
