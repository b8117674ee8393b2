"""What every driver shares: the command line, the stamp task's body, timing, JSON output.

Runs inside each peer's private environment, so it imports only the standard library and
redis-py (every environment has redis-py: the stamp task uses it). A driver subclasses
`Driver` (its `__init__` sets its system up; `Driver.run()` is the entry point) and is run
as `python bench/peers/<system>_driver.py COMMAND ...`:

    info                     versions and the worker settings the driver knows (JSON)
    setup                    one-off preparation (e.g. migrate a database)
    reset                    forget every task (for state kept outside Redis)
    snapshot, restore        copy / put back that state (bench.compare copies Redis)
    enqueue N                enqueue N no-op tasks one by one with the normal API
    enqueue-many N           the bulk API, where the system has one
    drain-setup N            pre-enqueue N tasks for a drain (stamp tasks at 0, every 100th,
                             every 10th below 1,000, and N-1; no-op tasks otherwise)
    worker SETTING           become the worker (exec), e.g. SETTING "1x1" or "2x4"
    probe                    enqueue one stamp task and wait until it has started
    latency                  probe, then enqueue stamp tasks one at a time on an idle worker
    pending                  how many tasks are still waiting
    serve                    run the commands above (not worker) read from stdin, one JSON
                             list of arguments per line, each answered on one line

Every command prints one JSON object on its last stdout line (`serve`: one marked line per
command). The environment carries the
shared configuration: BENCH_REDIS_URL (the private redis-server) and BENCH_WORKDIR (a
scratch directory for this run, e.g. for SQLite files).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import redis

PEERS_DIR = Path(__file__).resolve().parent
STAMPS_KEY = "bench:stamps"
#: A drain stamps task 0, every STAMP_EVERY-th task (every 10th of the first 1,000, so that
#: a slow system's capped drain still has several) and the last one.
STAMP_EVERY = 100
MIN_LATENCY_SAMPLES = 20
SLOW_POLLER_SECONDS = 12.0  # a 1 s poller: about 12 samples a round
SERVE_MARK = "@@bench-reply "  # starts a served command's reply line (see Driver.serve)

_client: tuple[int, redis.Redis] | None = None


def redis_url() -> str:
    return os.environ["BENCH_REDIS_URL"]


def stamp_client() -> redis.Redis:
    """One client per process (the worker processes are forked from a master)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(redis_url()))
    return _client[1]


def record_stamp(i: int) -> None:
    """The body of every system's `stamp` task: push "<i> <wall-clock start time>"."""
    stamp_client().rpush(STAMPS_KEY, f"{i} {time.time()!r}")


def is_stamped(i: int, n: int) -> bool:
    return i == n - 1 or i % STAMP_EVERY == 0 or (i < 1000 and i % 10 == 0)


def versions(*names: str) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def hiredis_version() -> str | None:
    """redis-py parses replies in C when hiredis is installed (5-8 % more tasks/s for
    Threadmill): the tables say where it was, so that like is compared with like."""
    try:
        return metadata.version("hiredis")
    except metadata.PackageNotFoundError:
        return None


#: Pool settings of both Threadmill drivers (this repository and the PyPI release):
#: name -> (processes, threads), the ones drained, and the idle pool.
POOL_SETTINGS = {"1x1": (1, 1), "2x1": (2, 1), "2x2": (2, 2), "2x4": (2, 4)}
POOL_DRAIN_SETTINGS = {
    "1x1": "1 process x 1 thread",
    "2x2": "2 processes x 2 threads",
    "2x4": "2 processes x 4 threads",
}
POOL_IDLE_SETTING = ("2x4", "2 processes x 4 threads")


class Driver:
    """One system. Subclasses implement the primitives; `run()` is the command line."""

    name = "?"
    packages: tuple[str, ...] = ()
    #: SETTING -> human description; the first is the 1 process x 1 thread setting.
    drain_settings: dict[str, str] = {}
    #: The nearest equivalent of an idle pool of 2 processes x 4 threads.
    idle_setting: tuple[str, str] = ("2x4", "2 processes x 4 threads")
    has_bulk = False
    uses_redis = True
    #: Seconds between a latency task's start and the next enqueue: random in this range, so
    #: that a worker that polls is met at a random point of its poll interval.
    latency_gap = (0.02, 0.12)
    #: Its idle latency is set by a poll interval of about a second: its latency rounds run
    #: beside the other systems' (see bench/compare/idle_pools.py).
    slow_poller = False

    # ---- primitives a driver implements ----------------------------------------------------

    def setup(self) -> None:
        """Called once per benchmark run, before anything else."""

    def reset(self) -> None:
        """Forget every task (Redis is flushed by the coordinator; databases are not)."""

    def snapshot(self) -> None:
        """Keep a copy of the state kept outside Redis (bench.compare copies Redis itself)."""

    def restore(self) -> None:
        """Put that copy back (no worker is running)."""

    def enqueue_noop(self) -> None:
        raise NotImplementedError

    def enqueue_stamp(self, i: int) -> None:
        raise NotImplementedError

    def enqueue_many_noop(self, n: int) -> None:
        raise NotImplementedError(f"{self.name} has no bulk enqueue")

    def fill(self, n: int) -> None:
        """Pre-enqueue a drain's tasks; any fast way will do (this is not timed)."""
        for i in range(n):
            if is_stamped(i, n):
                self.enqueue_stamp(i)
            else:
                self.enqueue_noop()

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        """argv (argv[0] an executable path) and extra environment of worker instance
        `index` of the setting."""
        raise NotImplementedError

    def instances(self, setting: str) -> int:
        """How many separate worker commands the setting runs (see cmd_worker)."""
        return 1

    def pending(self) -> int:
        raise NotImplementedError

    # ---- the command line --------------------------------------------------------------------

    def info(self) -> dict:
        return {
            "system": self.name,
            "versions": versions(*self.packages),
            "python": sys.version.split()[0],
            "drain_settings": self.drain_settings,
            "idle_setting": list(self.idle_setting),
            "has_bulk": self.has_bulk,
            "latency_gap": list(self.latency_gap),
            "slow_poller": self.slow_poller,
            "uses_redis": self.uses_redis,
            "hiredis": hiredis_version(),
        }

    def cmd_enqueue(self, n: int, seconds: float, bulk: bool = False) -> dict:
        self.reset()
        if bulk:
            start = time.perf_counter()
            self.enqueue_many_noop(n)
            elapsed = time.perf_counter() - start
            return {"n": n, "seconds": elapsed, "rate": n / elapsed}
        self.enqueue_noop()  # warm up: connections, script loading
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while done < n:
            self.enqueue_noop()
            done += 1
            if done % 50 == 0 and time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - start
        return {"n": done, "seconds": elapsed, "rate": done / elapsed, "capped": done < n}

    def cmd_drain_setup(self, n: int) -> dict:
        self.reset()
        start = time.perf_counter()
        self.fill(n)
        return {"n": n, "seconds": time.perf_counter() - start, "pending": self.pending()}

    def wait_client(self) -> redis.Redis:
        # redis-py 8 times reads out after 5 s by default; these waits block for longer.
        return redis.Redis.from_url(redis_url(), socket_timeout=None)

    def wait_stamp(self, client: redis.Redis, timeout: float) -> tuple[int, float] | None:
        reply = client.blpop([STAMPS_KEY], timeout=timeout)
        if reply is None:
            return None
        i, t = reply[1].split()
        return int(i), float(t)

    def cmd_probe(self, timeout: float) -> dict:
        client = self.wait_client()
        client.delete(STAMPS_KEY)
        sent = time.time()
        self.enqueue_stamp(-1)
        got = self.wait_stamp(client, timeout)
        if got is None:
            raise SystemExit(f"no worker started the probe task within {timeout:.0f} s")
        return {"ms": (got[1] - sent) * 1000}

    def cmd_latency(self, samples: int, seconds: float, boot_timeout: float) -> dict:
        """Enqueue -> start, in ms, one task at a time on an idle worker (wall clock).

        A first task (not counted) waits for the worker to boot."""
        self.cmd_probe(boot_timeout)
        client = self.wait_client()
        client.delete(STAMPS_KEY)
        latencies = []
        start = time.monotonic()

        def more() -> bool:
            # Up to `samples` within `seconds`; a slow poller gets up to SLOW_POLLER_SECONDS for
            # MIN_LATENCY_SAMPLES.
            elapsed = time.monotonic() - start
            if len(latencies) >= samples:
                return False
            return elapsed < seconds or (
                len(latencies) < MIN_LATENCY_SAMPLES and elapsed < SLOW_POLLER_SECONDS
            )

        while more():
            # The worker goes idle again: idle latency is what is measured.
            time.sleep(random.uniform(*self.latency_gap))
            sent = time.time()
            self.enqueue_stamp(len(latencies))
            got = self.wait_stamp(client, 30)
            if got is None:
                raise SystemExit("a latency task did not start within 30 s")
            latencies.append((got[1] - sent) * 1000)
        return {"latencies_ms": latencies}

    def cmd_worker(self, setting: str) -> None:
        """Become the worker (exec: the same pid). A setting of several separate worker
        commands gets this process as a minimal supervisor that forwards signals."""
        count = self.instances(setting)
        sys.stdout.flush()
        if count == 1:
            argv, env = self.worker_command(setting)
            os.execve(argv[0], argv, {**os.environ, **env})
        children = []
        for index in range(count):
            argv, env = self.worker_command(setting, index)
            children.append(subprocess.Popen(argv, env={**os.environ, **env}))

        def forward(signum, frame):
            for child in children:
                child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for child in children:
            child.wait()

    @classmethod
    def run(cls, argv: list[str] | None = None) -> None:
        """The driver's entry point. `worker` skips the driver's set-up (importing its
        system, Django's setup), which only the other commands use: the worker command it
        execs does its own, and the benchmark waits for that start-up on every drain.
        `serve` keeps one set-up for many commands (see `serve`)."""
        argv = sys.argv[1:] if argv is None else argv
        if argv[:1] == ["serve"]:
            cls().serve()
            return
        driver = cls.__new__(cls) if argv[:1] == ["worker"] else cls()
        print(json.dumps(driver.dispatch(argv)))

    def serve(self) -> None:
        """Run commands read from stdin, one JSON object per line ({"id": ..., "argv": [...]}),
        and answer each with one stdout line: SERVE_MARK, then {"id": the same, "out": ...}
        or {"id": ..., "error": "..."}. The
        coordinator keeps one such process per system instead of starting a driver (its
        interpreter, its system's imports, Django's setup: ~1 s) for every command."""
        for line in sys.stdin:
            errors = io.StringIO()  # argparse explains a bad command on stderr
            request: dict = {}
            try:
                request = json.loads(line)
                argv = request["argv"]
                if argv[:1] == ["worker"]:  # it would replace this process
                    raise SystemExit("`worker` is not served: run it as its own command")
                with contextlib.redirect_stderr(errors):
                    reply = {"out": self.dispatch(argv)}
            except SystemExit as e:
                said = errors.getvalue().strip().splitlines()
                reply = {"error": said[-1] if said and e.code == 2 else str(e.code)}
            except Exception as e:  # reported to the coordinator, which goes on
                reply = {"error": f"{type(e).__name__}: {e}"}
            reply["id"] = request.get("id") if isinstance(request, dict) else None
            sys.stderr.write(errors.getvalue())
            self.after_command()
            sys.stdout.write("\n" + SERVE_MARK + json.dumps(reply) + "\n")  # own line
            sys.stdout.flush()

    def after_command(self) -> None:
        """Between served commands: no database connection outlives a command (restore
        replaces django-tasks-db's SQLite file under it)."""
        django_db = sys.modules.get("django.db")
        if django_db is not None:
            django_db.connections.close_all()

    def dispatch(self, argv: list[str]) -> dict:
        parser = argparse.ArgumentParser(prog=f"{self.name} driver")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("info")
        sub.add_parser("setup")
        sub.add_parser("reset")
        sub.add_parser("snapshot")
        sub.add_parser("restore")
        p = sub.add_parser("enqueue")
        p.add_argument("n", type=int)
        p.add_argument("--seconds", type=float, default=60.0, help="stop early after this")
        p = sub.add_parser("enqueue-many")
        p.add_argument("n", type=int)
        p = sub.add_parser("drain-setup")
        p.add_argument("n", type=int)
        p = sub.add_parser("worker")
        p.add_argument("setting")
        p = sub.add_parser("probe")
        p.add_argument("--timeout", type=float, default=60.0)
        p = sub.add_parser("latency")
        p.add_argument("--samples", type=int, default=200)
        p.add_argument("--seconds", type=float, default=15.0)
        p.add_argument("--boot-timeout", type=float, default=60.0)
        sub.add_parser("pending")
        args = parser.parse_args(argv)

        match args.command:
            case "info":
                out = self.info()
            case "setup":
                self.setup()
                out = {"ok": True}
            case "reset":
                self.reset()
                out = {"ok": True}
            case "snapshot":
                self.snapshot()
                out = {"ok": True}
            case "restore":
                self.restore()
                out = {"ok": True}
            case "enqueue":
                out = self.cmd_enqueue(args.n, args.seconds)
            case "enqueue-many":
                out = self.cmd_enqueue(args.n, 0, bulk=True)
            case "drain-setup":
                out = self.cmd_drain_setup(args.n)
            case "worker":
                if args.setting not in self.drain_settings and args.setting != self.idle_setting[0]:
                    raise SystemExit(f"unknown setting {args.setting!r} for {self.name}")
                self.cmd_worker(args.setting)  # execs, or supervises until its workers exit
                out = {"ok": True}
            case "probe":
                out = self.cmd_probe(args.timeout)
            case "latency":
                out = self.cmd_latency(args.samples, args.seconds, args.boot_timeout)
            case "pending":
                out = {"pending": self.pending()}
        return out
