"""Real redis-server processes for the tests: free port, private data dir, fault controls.

`RedisServer` starts `redis-server` from PATH on a free port with its own `--dir`, and can
`stop()` (clean SHUTDOWN), `kill()` (SIGKILL), `restart()` (same port and data dir),
`pause()` / `resume()` (SIGSTOP / SIGCONT: a network stall as the clients see it).
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

INSTALL_HINT = (
    "redis-server was not found on PATH. The tests start real Redis servers: install it "
    "with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError(INSTALL_HINT)
    return found


class RedisServer:
    """One disposable redis-server. Use as a context manager or call close()."""

    def __init__(
        self,
        *,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        extra: list[str] | None = None,
    ) -> None:
        self.binary = redis_server_binary()
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
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{log}")
            try:
                with self.client(socket_timeout=0.5) as c:
                    # While an AOF loads, PING answers but data commands say LOADING.
                    if c.ping() and c.info("persistence").get("loading", 0) == 0:
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

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
