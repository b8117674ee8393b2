"""The systems and how a run talks to them: one serving driver process per system (and per
redis-server) that runs driver commands one after the other, and the workers (pools) that
each system's driver starts, every one in its own session."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.compare import PEERS, Failed, one_line
from bench.compare.processes import stop
from tests.redis_server import RedisServer

STAMPS_KEY = "bench:stamps"  # as in bench/peers/common.py
SERVE_MARK = b"@@bench-reply "  # as in bench/peers/common.py
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


@dataclass
class System:
    name: str
    python: str = ""
    info: dict = field(default_factory=dict)  # the driver's `info`: versions, settings
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
