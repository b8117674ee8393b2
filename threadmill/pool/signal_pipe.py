"""How signals reach the pool's master: handlers that only queue, and a self-pipe to sleep on.

A signal handler runs between any two bytecodes of the master's loop, so it must not log or
take a lock (either can deadlock): it appends the signal to a queue and writes a byte to a
non-blocking pipe. The loop sleeps in `select` on that pipe (`SignalPipe.sleep`), so a
signal, or SIGCHLD (a worker ended), wakes it at once; it then takes the queued signals
(`SignalPipe.pending`) and handles them itself (`Arbiter.handle_<name>`). A forked worker
closes both ends of the pipe (`SignalPipe.fds`) and restores the default handlers of
`HANDLED_SIGNALS`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterator
from types import FrameType

#: The signals the master queues for its loop (SIGCHLD only wakes it).
HANDLED_SIGNALS = [
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGTTIN,
    signal.SIGTTOU,
]


class SignalPipe:
    """The master's queue of received signals and the pipe that wakes its loop."""

    def __init__(self) -> None:
        self._queue: list[int] = []
        self._read, self._write = -1, -1

    def install(self) -> None:
        """Open the pipe and install the handlers (in the master, before any fork)."""
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self._queue_signal)
        signal.signal(signal.SIGCHLD, self._wake)

    @property
    def fds(self) -> list[int]:
        """Both ends of the pipe (a forked worker closes them)."""
        return [self._read, self._write]

    def _queue_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only queue and wake: logging or locking inside a signal handler can deadlock.
        self._queue.append(signum)
        self._wake(signum, frame)

    def _wake(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write, b".")

    def sleep(self, until: float) -> None:
        """Wait until `until` (time.monotonic()), a second at most, or until a signal comes;
        not at all while queued signals wait to be handled."""
        timeout = max(0.0, min(until - time.monotonic(), 1.0))
        if self._queue:
            timeout = 0.0
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select([self._read], [], [], timeout)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._read, 4096):
                        pass

    def pending(self) -> Iterator[int]:
        """The queued signals, oldest first, each taken off the queue as it is handed out
        (one that arrives meanwhile is handed out too)."""
        while self._queue:
            yield self._queue.pop(0)
