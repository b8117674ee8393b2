"""Run `manage.py threadmill` as a real process (its own session) and look at it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition not reached"):
    """Poll predicate until it is truthy (returned) or timeout passes (AssertionError with
    `message`; a callable message, such as a pool's `tail`, is called then, not before)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} within {timeout}s")
        time.sleep(interval)


def _processes():
    """(pid, state, ppid, session id) of every process, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # pid (comm) state ppid pgrp session ...: comm may contain spaces
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield int(entry.name), fields[0], int(fields[1]), int(fields[3])


def children(pid: int) -> list[int]:
    return sorted(p for p, state, ppid, _ in _processes() if ppid == pid and state != "Z")


def session_members(sid: int) -> list[int]:
    return [p for p, state, _, session in _processes() if session == sid and state != "Z"]


class Pool:
    """A `manage.py threadmill` process in its own session, logging to a file."""

    def __init__(
        self,
        redis_url: str,
        *args: str,
        options: dict | None = None,
        env: dict | None = None,
        log_dir: Path | None = None,
        prefix: list[str] | None = None,
    ) -> None:
        self.args = list(args)
        self.log_path = (log_dir or Path("/tmp")) / f"threadmill-pool-{os.getpid()}-{id(self)}.log"
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "THREADMILL_TEST_REDIS_URL": redis_url,
            "THREADMILL_TEST_OPTIONS": json.dumps(options or {}),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "django", "threadmill", *self.args],
            cwd=ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[int]:
        return children(self.pid)

    def wait_for_workers(self, count: int, timeout: float = 15.0) -> list[int]:
        return wait_until(
            lambda: len(self.workers()) == count and self.workers(),
            timeout,
            message=lambda: f"{count} worker(s) running; log:\n{self.tail()}",
        )

    def wait_for_log(self, text: str, timeout: float = 15.0) -> None:
        wait_until(
            lambda: text in self.log(),
            timeout,
            message=lambda: f"log line {text!r}; log:\n{self.tail()}",
        )

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"pool did not exit within {timeout}s; log:\n{self.tail()}"
            ) from exc

    def close(self) -> None:
        """Kill the whole session (master, workers, anything a task spawned)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(10)
        for member in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        self._log.close()
