"""Real server processes for the tests: free port, private data dir, fault controls.

`RedisServer` starts the server binary that THREADMILL_TEST_SERVER chooses (see
`tests/server_binary.py`: `redis-server` from PATH by default, else the bundled Valkey) on a
free port with its own `--dir`, and can `stop()` (clean SHUTDOWN), `kill()` (SIGKILL),
`restart()` (same port and data dir), `pause()` / `resume()` (SIGSTOP / SIGCONT: a network
stall as the clients see it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.server_binary import ServerBinary, chosen_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    """Path of the server binary the tests start (THREADMILL_TEST_SERVER)."""
    return chosen_server().server


class RedisServer:
    """One disposable server (the tests' choice, or binary). Use as a context manager or
    call close()."""

    def __init__(
        self,
        *,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        extra: list[str] | None = None,
        binary: ServerBinary | None = None,
    ) -> None:
        self.binary = (binary or chosen_server()).server
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="threadmill-redis-"))
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra = list(extra or [])
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--logfile",
            str(self.dir / "redis.log"),
            *self.extra,
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready()

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, **kwargs)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.binary} exited with {self.process.returncode}:\n{log}")
            try:
                with self.client(socket_timeout=0.5) as c:
                    # While an AOF loads, PING answers but data commands say LOADING.
                    if c.ping() and c.info("persistence").get("loading", 0) == 0:
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.binary} on port {self.port} did not start")
            time.sleep(0.02)

    def version(self) -> str:
        """INFO's redis_version, and Valkey's own version after it on a Valkey server
        (which reports redis_version 7.2.4): e.g. "7.0.15" or "7.2.4 (Valkey 8.1.8)"."""
        with self.client() as c:
            info = c.info("server")
        version = str(info["redis_version"])
        return (
            f"{version} (Valkey {info['valkey_version']})" if "valkey_version" in info else version
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync (what a crash looks like)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Clean shutdown without saving an RDB snapshot (the AOF stays as written)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            try:
                with self.client(socket_timeout=2) as c:
                    c.shutdown(nosave=True)
            except redis.RedisError:
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, *, flush_data: bool = False) -> None:
        """Stop (if running) and start again on the same port and data dir."""
        self.stop()
        if flush_data:
            for item in self.dir.iterdir():
                if item.name != "redis.log":
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
        self.start()

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
