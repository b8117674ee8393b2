"""Threadmill side by side with its peers: one command, one machine, one private Redis.

    uv run python bench/compare.py                       # the full run (~6 min on 2 cores)
    uv run python bench/compare.py --quick               # a smoke run (~1.3 min)
    uv run python bench/compare.py --output docs/performance-run.md --json results.json

Systems: threadmill (this repository, in its own environment), the published threadmill
release, dramatiq, huey, celery, RQ and django-tasks-db; the pinned versions are in
`bench/peers/versions.py`. Each peer is installed into a private virtual environment under
`--env-dir` (built once with uv, reused while the pins are unchanged) and driven by
`bench/peers/<system>_driver.py`, a script with a common command line (see
`bench/peers/common.py`). Nothing of a peer is imported here: this process only starts the
drivers and their workers, reads Redis and /proc, and writes the tables.

One redis-server (persistence off: no RDB snapshots, no AOF) serves every system and is
flushed before each measurement; only the idle pools, which idle side by side, get one
each. The scenarios run in rounds: each round measures every system once, so drifting
background load spreads over all of them. Each figure is the median and min-max over the
rounds. A system or figure that fails is reported as
"failed: reason" and the run goes on. See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.peers.versions import pins_for  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

STAMPS_KEY = "bench:stamps"  # as in bench/peers/common.py
SERVE_MARK = b"@@bench-reply "  # as in bench/peers/common.py
DASH, TIMES = "\u2013", "\u00d7"  # the tables' en dash and multiplication sign
SYSTEMS = ["threadmill", "threadmill-pypi", "dramatiq", "huey", "celery", "rq", "django-tasks-db"]
DRIVERS = {
    "threadmill": "threadmill_driver.py",
    "threadmill-pypi": "threadmill_pypi_driver.py",
    "dramatiq": "dramatiq_driver.py",
    "huey": "huey_driver.py",
    "celery": "celery_driver.py",
    "rq": "rq_driver.py",
    "django-tasks-db": "django_tasks_db_driver.py",
}


class Failed(Exception):
    """A driver, a worker or an install failed; the message becomes the table's cell."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---- environments -------------------------------------------------------------------------


def base_python() -> str:
    """The interpreter behind this process (the repository's env): peers get the same one."""
    return getattr(sys, "_base_executable", None) or sys.executable


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def build_env(system: str, python: str, env_dir: Path, timeout: float) -> str:
    """The path of the python of `system`'s private virtual environment (built if needed)."""
    version = python_version(python)
    pins = pins_for(system, version)
    digest = hashlib.sha256(json.dumps([pins, python, version]).encode()).hexdigest()[:12]
    venv = env_dir / f"{system}-{digest}"
    exe = venv / "bin" / "python"
    marker = venv / ".bench-complete"
    if marker.exists() and exe.exists():
        return str(exe)
    for stale in env_dir.glob(f"{system}-*"):  # built from older pins: ours to remove
        if len(stale.name) == len(venv.name):
            shutil.rmtree(stale, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    if uv:
        steps = [
            [uv, "venv", "--quiet", "--python", python, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", str(exe), *pins],
        ]
    else:
        steps = [
            [python, "-m", "venv", str(venv)],
            [str(exe), "-m", "pip", "install", "--quiet", *pins],
        ]
    log(f"[{system}] installing {' '.join(pins)} into {venv}")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PYTHON")}
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            raise Failed(f"install timed out after {timeout:.0f} s") from e
        if done.returncode != 0:
            raise Failed(f"install: {one_line(done.stderr or done.stdout)}")
    marker.write_text(" ".join(pins) + "\n")
    return str(exe)


# ---- drivers and workers ------------------------------------------------------------------


@dataclass
class System:
    name: str
    python: str = ""
    info: dict = field(default_factory=dict)
    error: str = ""  # set when the system cannot run at all (install, setup)


class ServingDriver:
    """A driver process in `serve` mode: one start-up (interpreter, the system's imports,
    Django's setup) for every command of a run, instead of ~1 s per command."""

    def __init__(self, argv: list[str], env: dict, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                cwd=PEERS,
                start_new_session=True,
            )
        self.buffer = b""
        self.requests = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, args: list[str], timeout: float) -> dict:
        name = args[0]
        self.requests += 1
        request = {"id": self.requests, "argv": args}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError) as e:  # ValueError: closed already
            raise Failed(f"`{name}`: the driver is gone ({self._tail()})") from e
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if line.startswith(SERVE_MARK):
                    try:
                        reply = json.loads(line[len(SERVE_MARK) :])
                    except ValueError as e:
                        raise Failed(f"`{name}`: a garbled reply: {one_line(str(line))}") from e
                    if reply.get("id") != request["id"]:
                        continue  # the answer to an earlier call that timed out or was garbled
                    if "error" in reply:
                        raise Failed(f"`{name}`: {one_line(reply['error'])}")
                    return reply["out"]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise Failed(f"`{name}` timed out after {timeout:.0f} s")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.close()
                    raise Failed(f"`{name}`: the driver exited ({self._tail()})")
                self.buffer += chunk

    def _tail(self) -> str:
        try:
            return one_line(self.log_path.read_text(errors="replace")[-2000:]) or "no output"
        except OSError:
            return "no log"

    def close(self) -> None:
        stop(self.proc)  # as a worker: its group and anything it started
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class Runner:
    """Runs driver commands and workers for every system against one redis-server."""

    def __init__(self, server: RedisServer, workdir: Path) -> None:
        self.server = server
        self.client = server.client()
        self.raw = redis.Redis(port=server.port)  # bytes: DUMP payloads are binary
        self.workdir = workdir
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE")
        }
        self.env.update({"BENCH_REDIS_URL": server.url, "BENCH_WORKDIR": str(workdir)})
        self.worker_logs = workdir / "logs"
        self.worker_logs.mkdir(exist_ok=True)
        self.drivers: dict[str, ServingDriver] = {}

    def call(self, system: System, *args: str, timeout: float = 120.0) -> dict:
        """A driver command, run by the system's serving driver (started on first use; a
        driver that timed out or died is replaced on the next call)."""
        driver = self.drivers.get(system.name)
        if driver is None:
            argv = [system.python, str(PEERS / DRIVERS[system.name]), "serve"]
            log_path = self.worker_logs / f"{system.name}-driver-{id(self)}.log"
            driver = self.drivers[system.name] = ServingDriver(argv, self.env, log_path)
        try:
            return driver.call(list(args), timeout)
        except Failed:
            if not driver.alive():
                self.drivers.pop(system.name).close()
            raise

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()
        self.drivers.clear()

    def flush(self, system: System) -> None:
        """Start from nothing: flush Redis, and the system's own store if it has one."""
        self.client.flushall()
        if not system.info.get("uses_redis", True):
            self.call(system, "reset", timeout=120)

    @contextlib.contextmanager
    def worker(self, system: System, setting: str, extra_env: dict | None = None):
        """A running worker (pool) in its own session; stopped and reaped on exit."""
        log_path = self.worker_logs / f"{system.name}-{setting}-{time.monotonic_ns()}.log"
        argv = [system.python, str(PEERS / DRIVERS[system.name]), "worker", setting]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self.env, **(extra_env or {})},
                cwd=PEERS,
                start_new_session=True,
            )
        proc.log_path = log_path  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            stop(proc)

    def check_alive(self, proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            tail = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
            raise Failed(f"worker exited with {proc.returncode}: {one_line(tail)}")

    def probe(self, system: System, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        """Wait until the worker runs a task (it has booted)."""
        try:
            self.call(system, "probe", "--timeout", str(timeout), timeout=timeout + 30)
        except Failed:
            self.check_alive(proc)
            raise


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's session (the process group we started) and every descendant,
    then wait until none of them runs.

    What is measured is over by then, and Redis (and the SQLite file) are reset before the
    next measurement, so the stop need not be graceful: a graceful stop would only add its
    shutdown time (up to a second per worker) to the run. Descendants are killed one by one
    too because some leave the session (RQ's work horse calls setsid()), and the next
    measurement waits for all of them: a process that is still finishing a task would
    write into the flushed Redis. The family is stopped (SIGSTOP) before it is listed
    again and killed: a process forked after the first listing (an RQ worker starting its
    next work horse) is then still its parent's child, found by the second listing, where
    killing the parent first would orphan it out of reach."""

    def send(pids: list[int], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    family = [proc.pid, *descendants(proc.pid)]
    send(family, signal.SIGSTOP)
    family = list(dict.fromkeys([*family, *descendants(proc.pid)]))
    send(family, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.01)


# ---- /proc ----------------------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stat_fields(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after `pid (comm)`: state, ppid, ... (None: no such process).
    comm may contain spaces, so the split is after the last ')'."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def parents() -> dict[int, int]:
    """pid -> ppid of every process, from one pass over /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(entry.name)) is not None:
            found[int(entry.name)] = int(fields[1])
    return found


def children(pid: int) -> list[int]:
    return [child for child, parent in parents().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    by_parent: dict[int, list[int]] = {}
    for child, parent in parents().items():
        by_parent.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        kids = by_parent.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def running(pid: int) -> bool:
    """pid exists and is not a zombie (a killed orphan may wait a while to be reaped)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def memory(pid: int) -> dict:
    """RSS of the master and of its largest child (the worker), in MiB."""
    master = rss_mib(pid)
    kids = [(rss_mib(c), c) for c in children(pid)]
    kids = [(r, c) for r, c in kids if r is not None]
    worker = max(kids)[0] if kids else None
    return {"master": master, "worker": worker, "children": len(kids)}


# ---- scenarios ------------------------------------------------------------------------------


def scenario_enqueue(r: Runner, s: System, n: int, seconds: float) -> dict:
    r.flush(s)
    out = r.call(s, "enqueue", str(n), "--seconds", str(seconds), timeout=seconds + 120)
    return {"rate": out["rate"], "n": out["n"]}


def scenario_enqueue_many(r: Runner, s: System, n: int) -> dict:
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


def scenario_drain(
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def scenario_latency(
    r: Runner, s: System, proc: subprocess.Popen, samples: int, seconds: float
) -> dict:
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


def cpu_busy(seconds: float) -> float:
    """The share of the machine's CPU time that was busy over the next `seconds`."""

    def times() -> list[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]

    before = times()
    time.sleep(seconds)
    delta = [b - a for a, b in zip(before, times(), strict=True)]
    idle = delta[3] + delta[4]  # idle, iowait
    return 1 - idle / max(sum(delta), 1)


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


def idle_window(pool: IdlePool, cfg: Config, results: dict) -> None:
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


def latency_rounds(lane: str, pools: list[IdlePool], cfg: Config, results: dict) -> None:
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
                scenario_latency,
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


def idle_pools(systems: list[System], workdir: Path, cfg: Config, results: dict) -> None:
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


# ---- the run --------------------------------------------------------------------------------


@dataclass
class Config:
    runs: int
    tasks: int
    enqueue: int
    enqueue_seconds: float
    drain_cap: float
    latency_samples: int
    latency_seconds: float
    idle_seconds: float
    idle_settle: float
    sweep: bool
    sweep_rounds: int


def record(results: dict, key: tuple, fn, *args) -> None:
    """Run one measurement; store its value or its failure under results[key]."""
    began = time.monotonic()
    try:
        value = fn(*args)
    except Exception as e:  # a Failed, or a bug or an unexpected reply: report it, keep going
        value = e
    store(results, key, value, time.monotonic() - began)


_STORE_LOCK = threading.Lock()  # the idle phase stores from several threads


def store(results: dict, key: tuple, value: dict | Exception, took: float) -> None:
    """Log a measurement (or its failure) and keep it under results[key]."""
    system = key[0]
    label = " ".join(str(k) for k in key[1:])
    if isinstance(value, Exception):
        reason = str(value) if isinstance(value, Failed) else f"{type(value).__name__}: {value}"
        # A Redis error may quote a binary argument (a DUMP payload): keep the text readable.
        reason = "".join(c if c.isprintable() else "?" for c in reason)
        reason = reason if len(reason) <= 300 else reason[:299] + "…"
        value = {"error": reason}
        log(f"[{system}] {label}: FAILED: {reason}")
    else:
        shown = {k: v for k, v in value.items() if k != "samples"}
        log(f"[{system}] {label} ({took:.1f} s): {json.dumps(shown, default=str)}")
    with _STORE_LOCK:
        results.setdefault(json.dumps(key), []).append(value)


def best_setting(results: dict, s: System) -> str | None:
    """The drain setting with the highest median so far."""
    best = None
    for setting in s.info.get("drain_settings", {}):
        values, _ = values_of(results, (s.name, "drain", setting), "rate")
        if values and (best is None or statistics.median(values) > best[0]):
            best = (statistics.median(values), setting)
    return best and best[1]


def drain_settings(
    results: dict, s: System, cfg: Config, round_no: int, chosen: dict[str, str | None]
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


def run_all(r: Runner, systems: list[System], cfg: Config) -> dict:
    results: dict = {}
    chosen: dict[str, str | None] = {}
    snaps: dict[str, Snapshot | Failed] = {}
    ready = [s for s in systems if not s.error]
    for round_no in range(1, cfg.runs + 1):
        log(f"--- round {round_no} of {cfg.runs}")
        for s in ready:
            record(
                results,
                (s.name, "enqueue"),
                scenario_enqueue,
                r,
                s,
                cfg.enqueue,
                cfg.enqueue_seconds,
            )
            if s.info["has_bulk"]:
                record(results, (s.name, "enqueue_many"), scenario_enqueue_many, r, s, cfg.tasks)
        for s in ready:
            settings = list(s.info["drain_settings"])
            if s.name not in snaps:  # built once, restored before every drain of every round
                try:
                    snaps[s.name] = prepare_drain(r, s, cfg.tasks)
                except Failed as e:
                    snaps[s.name] = e
            for setting in drain_settings(results, s, cfg, round_no, chosen):
                record(
                    results,
                    (s.name, "drain", setting),
                    scenario_drain,
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


# ---- reporting ------------------------------------------------------------------------------


def values_of(results: dict, key: tuple, field_: str) -> tuple[list[float], list[str]]:
    runs = results.get(json.dumps(key), [])
    values = [v[field_] for v in runs if "error" not in v and v.get(field_) is not None]
    errors = [v["error"] for v in runs if "error" in v]
    return values, errors


def fmt_num(x: float, digits: int) -> str:
    return f"{x:,.{digits}f}"


def cell(results: dict, key: tuple, field_: str, digits: int = 0) -> str:
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


def drain_cell(results: dict, key: tuple) -> str:
    text = cell(results, key, "rate")
    runs = results.get(json.dumps(key), [])
    partial = [v for v in runs if v.get("partial")]
    if partial:
        tasks = statistics.median(v["tasks"] for v in partial)
        text += f" †{len(partial)} run(s) capped after ~{tasks:,.0f} tasks"
    leftover = [v["pending_after"] for v in runs if v.get("pending_after")]
    if leftover:
        text += f" ⚠ {max(leftover)} tasks still pending after the last stamp"
    return text


def memory_cell(results: dict, key: tuple, which: str) -> str:
    runs = results.get(json.dumps(key), [])
    mems = [v["memory"] for v in runs if "memory" in v]
    if not mems:
        errors = [v["error"] for v in runs if "error" in v]
        return f"failed: {errors[0]}" if errors else "n/a"
    if which == "worker":
        if all(m["worker"] is None for m in mems):
            return "same process"
        values = [m["worker"] for m in mems if m["worker"] is not None]
    else:
        values = [m["master"] for m in mems if m["master"] is not None]
    text = fmt_num(statistics.median(values), 1)
    if len(values) > 1:
        text += f" ({fmt_num(min(values), 1)}{DASH}{fmt_num(max(values), 1)})"
    partial = [v["tasks"] for v in runs if "memory" in v and v.get("partial")]
    if partial:
        text += f" †after ~{statistics.median(partial):,.0f} tasks"
    return text


def best_drain(results: dict, s: System) -> str:
    """The best setting among those measured in every round (the sweep-only ones have fewer
    runs: one lucky run must not win)."""
    most = max(
        (
            len(results.get(json.dumps([s.name, "drain", st]), []))
            for st in s.info["drain_settings"]
        ),
        default=0,
    )
    best = None
    for setting in s.info.get("drain_settings", {}):
        values, _ = values_of(results, (s.name, "drain", setting), "rate")
        runs = len(results.get(json.dumps([s.name, "drain", setting]), []))
        if not values or runs < most:
            continue
        med = statistics.median(values)
        if best is None or med > best[0]:
            best = (med, setting)
    if best is None:
        return "n/a"
    setting = best[1]
    what = s.info["drain_settings"][setting]
    return f"{drain_cell(results, (s.name, 'drain', setting))}: {what}"


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def markdown(systems: list[System], results: dict, meta: dict) -> str:
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
            runs = len(results.get(json.dumps(key), []))
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


def samples(results: dict, s: System) -> str:
    runs = results.get(json.dumps([s.name, "latency"]), [])
    return f"{sum(len(v['samples']) for v in runs if 'samples' in v):,}"


def version_of(s: System) -> str:
    versions = s.info.get("versions", {})
    if s.name == "threadmill":
        return "this repository"
    main = {"threadmill-pypi": "threadmill"}.get(s.name, s.name)
    if main in versions:
        return versions[main]
    return "?"  # the driver never reported (the system failed before it could)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument("--runs", type=int, help="rounds (default 3; --quick: 1)")
    parser.add_argument("--tasks", type=int, help="tasks per drain (default 10,000)")
    parser.add_argument("--systems", help=f"comma-separated subset of: {','.join(SYSTEMS)}")
    parser.add_argument(
        "--sweep",
        action=argparse.BooleanOptionalAction,
        help="drain in every setting of each system, not only 1x1 (default: on; --quick: off)",
    )
    parser.add_argument(
        "--sweep-rounds",
        type=int,
        default=1,
        help="rounds that drain in every setting; later rounds drain 1x1 and the best setting "
        "so far (default 1)",
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown tables here")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument(
        "--env-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "threadmill-bench"
        / "envs",
        help="where the peers' virtual environments are kept",
    )
    parser.add_argument("--python", default=base_python(), help="interpreter for the peers")
    args = parser.parse_args()

    quick = args.quick
    cfg = Config(
        runs=args.runs or (1 if quick else 3),
        tasks=args.tasks or (2_000 if quick else 10_000),
        enqueue=1_000 if quick else 5_000,
        enqueue_seconds=2.0,
        drain_cap=2.0,
        latency_samples=50 if quick else 150,
        latency_seconds=3.0 if quick else 5.0,
        idle_seconds=5.0 if quick else 10.0,
        idle_settle=1.0 if quick else 2.0,
        sweep=(not quick) if args.sweep is None else args.sweep,
        sweep_rounds=args.sweep_rounds,
    )
    names = args.systems.split(",") if args.systems else SYSTEMS
    unknown = set(names) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    load_before = os.getloadavg()

    systems = [System(name) for name in names]
    for s in systems:
        if s.name == "threadmill":
            s.python = sys.executable
            continue
        try:
            s.python = build_env(s.name, args.python, args.env_dir, timeout=900)
        except Failed as e:
            s.error = str(e)
            log(f"[{s.name}] FAILED: {e}")
        except (OSError, subprocess.SubprocessError) as e:
            s.error = f"install: {e}"
            log(f"[{s.name}] FAILED: install: {e}")

    workdir = Path(tempfile.mkdtemp(prefix="threadmill-compare-"))
    try:
        with RedisServer(appendonly=False) as server:
            runner = Runner(server, workdir)
            try:
                redis_version = server.client().info()["redis_version"]
                for s in systems:
                    if s.error:
                        continue
                    try:
                        s.info = runner.call(s, "info", timeout=120)
                        runner.call(s, "setup", timeout=300)
                    except Failed as e:
                        s.error = str(e)
                        log(f"[{s.name}] FAILED: {e}")
                    else:
                        log(f"[{s.name}] {s.info['versions']} on Python {s.info['python']}")
                results = run_all(runner, systems, cfg)
            finally:
                runner.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    meta = {
        "machine": machine(),
        "python": python_version(args.python),
        "redis": redis_version,
        "runs": cfg.runs,
        "command": "uv run python bench/compare.py " + " ".join(sys.argv[1:]),
        "wall_minutes": (time.monotonic() - started) / 60,
        "load": [round(x, 2) for x in load_before + os.getloadavg()],
        "config": cfg.__dict__,
    }
    table = markdown(systems, results, meta)
    print(table)
    if args.output:
        args.output.write_text(table)
    if args.json:
        payload = {
            "meta": meta,
            "systems": {s.name: {"info": s.info, "error": s.error} for s in systems},
            "results": {k: v for k, v in results.items()},
        }
        args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
