"""Throughput on a Redis Cluster with two aliases, each served by its own pool.

    uv run python bench/cluster.py [--runs 1] [--tasks 5000]

Starts a private cluster (3 masters, one replica each, persistence as in the tests) on
this machine. Aliases `a` and `b` hash to different masters ({a}: slot 15495, {b}: slot
3300). Figures, for replica_acks 0 and 1:

* enqueue one by one, one alias; then both aliases at once (a thread each);
* drain `--tasks` no-ops per alias with `manage.py threadmill --backend a` and
  `--backend b` running side by side (tasks/s between the first and the last finish,
  both aliases together), and for comparison one alias with one pool of the same total
  size.

Printed, never asserted: the machine is shared and every process (six redis-servers, the
pools, this script) competes for the same cores, so compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster_server import RedisClusterServer  # noqa: E402

ALIASES = ("a", "b")


def setup_django(url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["THREADMILL_TEST_REDIS_URL"] = url
    os.environ["THREADMILL_TEST_ALIASES"] = json.dumps(ALIASES)
    import django

    django.setup()


def use_options(url: str, options: dict) -> None:
    from django.test.utils import override_settings

    from tests.conftest import tasks_setting
    from threadmill.backends import connection

    connection.close_all()
    override_settings(TASKS=tasks_setting(url, options, aliases=ALIASES)).enable()


def pool(url: str, alias: str, options: dict, processes: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "THREADMILL_TEST_REDIS_URL": url,
        "THREADMILL_TEST_OPTIONS": json.dumps(options),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    args = ["--backend", alias, "--processes", str(processes), "--threads", str(threads)]
    return subprocess.Popen(
        [sys.executable, "-m", "django", "threadmill", *args, "--exit-empty"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def enqueue_rate(aliases: tuple[str, ...], n: int) -> float:
    """Tasks/s of `n` one-by-one enqueues per alias, the aliases in parallel threads."""
    from bench import tasks

    def run(alias: str) -> None:
        task = tasks.noop.using(backend=alias)
        for _ in range(n):
            task.enqueue()

    for alias in aliases:
        tasks.noop.using(backend=alias).enqueue()  # connections and scripts warm
    threads = [threading.Thread(target=run, args=(a,)) for a in aliases]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n * len(aliases) / (time.perf_counter() - start)


def drain_rate(url: str, aliases: tuple[str, ...], n: int, options: dict, size: tuple) -> float:
    """Tasks/s between the first and the last finish, all aliases together."""
    from django.tasks import task_backends

    from bench import tasks

    backends = [task_backends[a] for a in aliases]
    for backend in backends:
        backend.store.client.flushall()  # on a cluster: the master of this alias's slot
        for start in range(0, n, 10_000):
            backend.enqueue_many(tasks.noop, [((), {})] * min(10_000, n - start))
    pools = [pool(url, a, options, *size) for a in aliases]
    for p in pools:
        p.wait(900)
    first, last, done = float("inf"), 0.0, 0
    for backend in backends:
        index = backend.keys.index("default", "successful")
        first = min(first, backend.store.client.zrange(index, 0, 0, withscores=True)[0][1])
        last = max(last, backend.store.client.zrange(index, -1, -1, withscores=True)[0][1])
        done += backend.store.client.zcard(index)
    assert done == n * len(aliases), f"only {done} of {n * len(aliases)} tasks finished"
    return (done - 1) / max((last - first) / 1000, 1e-3)


def summary(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:,.0f} tasks/s (min {min(values):,.0f}, max {max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=5_000, help="tasks per alias to drain")
    parser.add_argument("--enqueue", type=int, default=2_000, help="enqueues per alias")
    args = parser.parse_args()

    with RedisClusterServer(masters=3, replicas=1) as cluster:
        setup_django(cluster.url)
        import django
        import redis
        from django.tasks import task_backends

        print(
            f"Threadmill cluster benchmark: {platform.platform()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, Django {django.get_version()}, "
            f"redis-py {redis.__version__}; cluster of 3 masters x 1 replica on this host"
        )
        for alias in ALIASES:
            base = task_backends[alias].keys.base
            print(
                f"alias {alias!r}: slot {cluster.slot_of(base)}, master "
                f"127.0.0.1:{cluster.master_of(base)}"
            )
        print(f"runs per figure: {args.runs}; median (min, max)\n")
        for acks in (0, 1):
            options = {"replica_acks": acks} if acks else {}
            use_options(cluster.url, options)
            label = f"replica_acks={acks}"
            one = [enqueue_rate(("a",), args.enqueue) for _ in range(args.runs)]
            both = [enqueue_rate(ALIASES, args.enqueue) for _ in range(args.runs)]
            print(f"[{label}] enqueue one by one, alias a:            {summary(one)}")
            print(f"[{label}] enqueue one by one, a and b at once:    {summary(both)}")
            for aliases, size, what in [
                (ALIASES, (1, 2), "2 aliases, a 1x2 pool each"),
                (("a",), (2, 2), "1 alias, one 2x2 pool     "),
            ]:
                figures = [
                    drain_rate(cluster.url, aliases, args.tasks, options, size)
                    for _ in range(args.runs)
                ]
                print(f"[{label}] drain {args.tasks:,}/alias, {what}: {summary(figures)}")


if __name__ == "__main__":
    main()
