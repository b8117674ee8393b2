"""Where an idle pool's enqueue -> start latency goes (a measurement, not a feature).

    uv run python bench/latency_probe.py [--samples 300]

On a private redis-server, one worker thread (a `Worker` in a forked process, as the pool
runs it) parks on Redis; this process enqueues one task at a time, a random 20-120 ms after
the previous one started (as bench/compare.py's latency scenario does), and splits each
sample at two points:

- **producer**: from the call of `task.enqueue()` to the moment the script call is packed
  and about to be sent (Django's `Task.enqueue`, validation, `TaskResult`, JSON);
- **Redis and the hop**: from there until the parked thread's `BLPOP` returned the lease
  (the enqueue script, which leases the task to the thread, and two processes woken);
- **worker**: from there to the task's first line (decoding the lease, database connection
  check, `TaskResult`, `task_started`).

For comparison it also measures a bare hop: `RPUSH` from this process to another process
blocked in `BLPOP`, with the same gaps. Medians and p95 are printed, in ms.

Last, what one enqueue costs back to back (no worker; µs per call, median of 5 batches):
a `PING` on the same kind of connection, the enqueue script call alone (arguments prepared
beforehand: the round trip, the Lua and packing the command), and the whole `task.enqueue()`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import setup_django  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

STARTED, HOP_IN, HOP_OUT = "probe:started", "probe:hop:in", "probe:hop:out"
_blpop_returned = [0.0]  # in the worker process: when the last lease arrived


def probe_task():
    """Push (when the lease arrived, when this task started) for the producer to read."""
    started = time.time()
    from django.tasks import task_backends

    task_backends["default"].client.rpush(STARTED, f"{_blpop_returned[0]!r} {started!r}")


def _worker(url: str) -> None:
    """The forked worker: one thread, parked on Redis between tasks, with a stamp taken
    when its BLPOP returns a lease."""
    from threadmill.backends.redis import RedisTaskBackend
    from threadmill.pool.slots import WorkerSlots
    from threadmill.pool.worker import Worker, WorkerSpec

    wait_for_lease = RedisTaskBackend.wait_for_lease

    def stamped(self, mailbox, timeout):
        lease = wait_for_lease(self, mailbox, timeout)
        _blpop_returned[0] = time.time()
        return lease

    RedisTaskBackend.wait_for_lease = stamped
    spec = WorkerSpec("default", ("default",), 1, None, False, "probe", os.getppid())
    Worker(spec, WorkerSlots(1)).run()


def _hop_echo(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    while True:
        client.blpop([HOP_IN])
        arrived = time.time()
        client.rpush(HOP_OUT, repr(arrived))


def _gap() -> None:
    time.sleep(random.uniform(0.02, 0.12))


def _summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    return f"{name:34} p50 {statistics.median(ordered):6.3f}   p95 {p95:6.3f}"


def _per_call_us(call, n: int = 2000) -> float:
    """Median over 5 batches of the time per call, in microseconds."""
    batches = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(n):
            call()
        batches.append((time.perf_counter() - began) / n * 1e6)
    return statistics.median(batches)


def _back_to_back() -> list[str]:
    from django.tasks import task_backends

    from bench.tasks import noop

    backend = task_backends["default"]
    conn = backend.clients().hot._connection()
    ping = b"*1\r\n$4\r\nPING\r\n"

    def bare_ping():
        conn.send_packed_command([ping])
        conn.read_response()

    prepared = iter(backend._prepare(noop, [((), {})] * 20_000))

    def script_only():
        backend._write(noop, [next(prepared)])

    return [
        f"{'PING':34} {_per_call_us(bare_ping):6.1f} us",
        f"{'enqueue script call alone':34} {_per_call_us(script_only, 1000):6.1f} us",
        f"{'task.enqueue()':34} {_per_call_us(noop.enqueue):6.1f} us",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with RedisServer(appendonly=False) as server:
        setup_django(server.url)
        import redis
        from django.tasks import task

        import threadmill.backends.hotpath as hotpath

        client = redis.Redis.from_url(server.url)
        fork = multiprocessing.get_context("fork")

        hop = fork.Process(target=_hop_echo, args=(server.url,), daemon=True)
        hop.start()
        client.rpush(HOP_IN, "warm-up")
        client.blpop([HOP_OUT], 10)
        bare = []
        for _ in range(args.samples):
            _gap()
            sent = time.time()
            client.rpush(HOP_IN, "x")
            bare.append((float(client.blpop([HOP_OUT], 10)[1]) - sent) * 1000)
        hop.terminate()

        global probe_task  # a Task at module level, where the worker looks it up by path
        probe = probe_task = task(probe_task)
        worker = fork.Process(target=_worker, args=(server.url,), daemon=True)
        worker.start()
        packed_at = [0.0]
        pack_command = hotpath.pack_command

        def stamped_pack(parts):
            packed_at[0] = time.time()
            return pack_command(parts)

        hotpath.pack_command = stamped_pack
        probe.enqueue()  # the worker boots and runs a first task (not counted)
        client.blpop([STARTED], 30)
        producer, hop_part, worker_part, total = [], [], [], []
        for _ in range(args.samples):
            _gap()
            sent = time.time()
            probe.enqueue()
            arrived, started = map(float, client.blpop([STARTED], 10)[1].split())
            producer.append((packed_at[0] - sent) * 1000)
            hop_part.append((arrived - packed_at[0]) * 1000)
            worker_part.append((started - arrived) * 1000)
            total.append((started - sent) * 1000)
        worker.terminate()
        worker.join(10)
        client.flushall()
        back_to_back = _back_to_back()
    print(f"{args.samples} samples, ms (a random 20-120 ms gap before each):")
    print(_summary("enqueue -> task start", total))
    print(_summary("  producer, up to the send", producer))
    print(_summary("  Redis script and the hop", hop_part))
    print(_summary("  worker, lease to task start", worker_part))
    print(_summary("bare RPUSH -> BLPOP hop", bare))
    print("back to back, per call:")
    for line in back_to_back:
        print("  " + line)


if __name__ == "__main__":
    main()
