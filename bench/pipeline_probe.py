"""What a pipelined acknowledgement would give one worker thread (a measurement, not a feature).

    uv run python bench/pipeline_probe.py [--runs 7] [--tasks 5000]

Drains no-op tasks in this process, on a private redis-server, two ways, side by side:

- **classic**: what a worker thread does today. Run the task, then one script call that
  stores its result and leases the next task; wait for the reply; repeat. Per task: the
  round trip plus the Python.
- **pipelined**: the thread keeps one leased task in reserve. It runs a task, sends "store
  this result and lease the next" without waiting, and runs the reserve while the reply
  travels; the reply's lease becomes the next reserve. Per task: about the longer of the
  round trip and the Python, not their sum.

The pipelined loop here is a probe: no retries, no signals, no graceful stop, and it leases
through the same scripts (nothing is changed in Redis). See docs/performance.md, "What would
go further", for what building it would cost in semantics.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import setup_django  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

WORKER, QUEUES = "probe", ["default"]


class Probe:
    def __init__(self, tasks: int) -> None:
        from django.tasks import task_backends

        from bench.peers import threadmill_tasks
        from threadmill.backends.hotpath import pack_command
        from threadmill.backends.serialization import lease_from_reply
        from threadmill.pool.runner import run_lease

        self.backend = task_backends["default"]
        self.noop = threadmill_tasks.noop
        self.tasks = tasks
        self.tokens = (f"probe.{i}" for i in itertools.count())
        self.pack, self.decode, self.run_lease = pack_command, lease_from_reply, run_lease

    def fill(self) -> None:
        self.backend.client.flushdb()
        self.backend.enqueue_many(self.noop, [((), {})] * self.tasks)

    def run(self, lease):
        return self.run_lease(lease, "default", type(self.backend), 1 << 20, after_idle=False)

    def classic(self) -> float:
        self.fill()
        backend, done = self.backend, 0
        began = time.perf_counter()
        lease = backend.acquire(WORKER, QUEUES, next(self.tokens))
        while lease is not None:
            outcome = self.run(lease)
            lease = backend.acknowledge(
                lease,
                WORKER,
                succeeded=outcome.succeeded,
                value_json=outcome.value_json,
                next_token=next(self.tokens),
                queues=QUEUES,
            ).next_lease
            done += 1
        return done / (time.perf_counter() - began)

    def _ack_command(self, lease, outcome) -> bytes:
        backend = self.backend
        leases, worker, constants, listened = backend._worker_args(WORKER, QUEUES)
        status = "SUCCESSFUL" if outcome.succeeded else "FAILED"
        return self.pack(
            ["EVALSHA", backend.scripts["acknowledge"].sha, 2, leases]
            + [backend.keys.task(lease.task_id), worker, next(self.tokens), constants]
            + [lease.task_id, lease.token, status, outcome.value_json, listened]
        )

    def _next(self, conn):
        reply = conn.read_response()
        return self.decode(reply[2]) if reply[2] else None

    def pipelined(self) -> float:
        self.fill()
        backend, done = self.backend, 0
        conn = backend.clients().hot._route.connect()  # its own connection: replies wait on it
        try:
            began = time.perf_counter()
            current = backend.acquire(WORKER, QUEUES, next(self.tokens))
            reserve = backend.acquire(WORKER, QUEUES, next(self.tokens))
            pending = False
            while current is not None:
                outcome = self.run(current)
                done += 1
                if pending:  # the previous task's reply travelled while this one ran
                    reserve = self._next(conn)
                conn.send_packed_command([self._ack_command(current, outcome)])
                pending = True
                current, reserve = reserve, None
                if current is None:  # nothing in reserve: wait for the reply after all
                    current, pending = self._next(conn), False
            if pending:
                self._next(conn)
            return done / (time.perf_counter() - began)
        finally:
            conn.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=5_000)
    args = parser.parse_args()
    with RedisServer(appendonly=False) as server:
        setup_django(server.url)
        probe = Probe(args.tasks)
        classic, pipelined = [], []
        for _ in range(args.runs):  # interleaved, so that background load hits both
            classic.append(probe.classic())
            pipelined.append(probe.pipelined())
    for name, rates in (("classic", classic), ("pipelined", pipelined)):
        shown = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"{name:10} median {statistics.median(rates):7,.0f} tasks/s  ({shown})")
    ratio = statistics.median(p / c for p, c in zip(pipelined, classic, strict=True))
    print(f"pipelined / classic, median of the per-round ratios: {ratio:.2f}x")


if __name__ == "__main__":
    main()
