"""One measurement of one system each: enqueue one by one, enqueue_many, drain a
pre-enqueued queue, and enqueue -> start latency on an idle pool. Each returns that
round's figures as a dict, or raises `Failed`."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from bench.compare import Failed
from bench.compare.drivers import STAMPS_KEY, Runner, System
from bench.compare.processes import memory
from bench.compare.stats import percentile


def enqueue(r: Runner, s: System, n: int, seconds: float) -> dict:
    r.flush(s)
    out = r.call(s, "enqueue", str(n), "--seconds", str(seconds), timeout=seconds + 120)
    return {"rate": out["rate"], "n": out["n"]}


def enqueue_many(r: Runner, s: System, n: int) -> dict:
    r.flush(s)
    out = r.call(s, "enqueue-many", str(n), timeout=300)
    return {"rate": out["rate"], "n": out["n"]}


@dataclass
class Snapshot:
    """A drain's pre-enqueued queue, taken once and put back before each drain."""

    n: int
    keys: list[tuple[bytes, int, bytes]]  # Redis: (key, pttl, DUMP payload)
    setup_seconds: float


def prepare_drain(r: Runner, s: System, n: int) -> Snapshot:
    """Enqueue n tasks with the driver, then keep a copy of the result.

    Building 10,000 tasks takes seconds with some systems' APIs; the copy is restored in
    a fraction of that, so each setting of a round drains the very same queue."""
    r.flush(s)
    setup = r.call(s, "drain-setup", str(n), timeout=600)
    if setup.get("pending") != n:
        raise Failed(f"drain-setup left {setup.get('pending')} tasks pending, not {n}")
    if not s.info["uses_redis"]:
        r.call(s, "snapshot", timeout=120)
    raw = r.raw
    keys = list(raw.scan_iter(count=1000))
    pipe = raw.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
        pipe.dump(key)
    replies = pipe.execute()
    entries = [(k, replies[2 * i], replies[2 * i + 1]) for i, k in enumerate(keys)]
    entries = [e for e in entries if e[2] is not None]  # a key that expired meanwhile
    return Snapshot(n=n, keys=entries, setup_seconds=setup["seconds"])


def restore(r: Runner, s: System, snap: Snapshot) -> None:
    r.client.flushall()
    pipe = r.raw.pipeline(transaction=False)
    for i, (key, pttl, payload) in enumerate(snap.keys):
        pipe.restore(key, max(pttl, 0), payload)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    if not s.info["uses_redis"]:
        r.call(s, "restore", timeout=120)


def drain(
    r: Runner,
    s: System,
    setting: str,
    snap: Snapshot | Failed,
    cap: float,
    want_memory: bool,
    check_pending: bool,
) -> dict:
    """Tasks/s between the start of the first and of the last task (net of start-up)."""
    if isinstance(snap, Failed):
        raise snap
    n = snap.n
    restore(r, s, snap)
    stamps: dict[int, float] = {}
    with r.worker(s, setting) as proc:
        started = time.monotonic()
        first_seen = None
        partial = False
        while n - 1 not in stamps:
            r.check_alive(proc)
            reply = r.client.blpop([STAMPS_KEY], timeout=0.2)
            if reply is not None:
                i, t = reply[1].split()
                stamps[int(i)] = float(t)
                first_seen = first_seen or time.monotonic()
            now = time.monotonic()
            if first_seen is None and now - started > 60:
                raise Failed("no task started within 60 s of the worker's start")
            if first_seen is not None and now - first_seen > cap and n - 1 not in stamps:
                partial = True
                break
        last = max(stamps)
        first = min(stamps)
        if last == first:
            raise Failed(f"only one progress stamp within {cap:.0f} s")
        rate = (last - first) / (stamps[last] - stamps[first])
        result = {"rate": rate, "tasks": last - first + 1, "partial": partial}
        result["boot"] = round(first_seen - started, 2)  # the pool's start-up, not counted
        if want_memory:
            time.sleep(0.5)  # the last tasks finish; a forked job process exits
            result["memory"] = memory(proc.pid)
    if check_pending and not partial:
        # Every task was taken in order, so none may be waiting (checked in round 1 only:
        # each check starts a driver process, seconds on a busy machine).
        left = r.call(s, "pending", timeout=60)["pending"]
        if left:
            result["pending_after"] = left
    return result


def latency(r: Runner, s: System, proc: subprocess.Popen, samples: int, seconds: float) -> dict:
    """Enqueue -> start on the system's idle pool (already booted)."""
    try:
        out = r.call(
            s,
            "latency",
            "--samples",
            str(samples),
            "--seconds",
            str(seconds),
            timeout=max(seconds, 30) + 120,
        )
    except Failed:
        r.check_alive(proc)  # a worker that died says more
        raise
    values = out["latencies_ms"]
    if not values:
        raise Failed("no latency sample")
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "samples": values,
    }
