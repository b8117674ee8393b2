"""A short busy-wait for a reply that is about to arrive (the `reply_spin` option).

A thread that blocks in the kernel on its socket sleeps; on a virtual machine, waking it
when the reply lands costs tens of microseconds (the idle virtual CPU is halted and must be
resumed), about as long as the whole round trip to a Redis on the same host. A thread that
polls its socket for a few dozen microseconds instead never sleeps and sees the reply at
once. Measured on a 2-core VM: a PING 64 -> 23 us, `task.enqueue()` ~1.6x and a 1x1 drain
~1.5x faster (docs/performance.md).

The calls made for every task spin: an enqueue, a worker's acquire and acknowledge-and-lease
(not with replica_acks: WAIT's reply comes later anyway). An idle thread's calls do not (it
is about to block anyway), nor does anything in a worker process whose pool has a process
for every usable core (`allow(False)`: a spinning worker would hold a core that Redis and
the other tasks need; a 2x2 pool on 2 cores drained ~0.93x as fast with it).

The spin is bounded and adapts: when the reply has not come within the budget (a distant
Redis, a busy host), the thread blocks as before and spins again only after 2, 4, ... up
to `MAX_SKIPPED` calls, so a deployment where it cannot help pays for it rarely. In a
process whose other threads run Python, the poll gives them the GIL, so a spinning thread
mostly waits for the GIL, as it would for the reply.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

#: Calls made without spinning after repeated misses, at most (2 ** MAX_MISSES).
MAX_MISSES = 8
MAX_SKIPPED = 1 << MAX_MISSES

_allowed = True


def allow(allowed: bool) -> None:
    """Allow or forbid spinning in this whole process (a worker process sets it once)."""
    global _allowed
    _allowed = allowed


def allowed() -> bool:
    return _allowed


def _native_poll() -> Callable[[], select.poll] | None:
    """select.poll when it is the operating system's: not on Windows; under gevent's
    monkey-patching it is gevent's cooperative version, whose every call switches to other
    greenlets (a spin would then last as long as they run)."""
    poll = getattr(select, "poll", None)
    if poll is None or getattr(poll, "__module__", None) != "select":
        return None
    return poll


class ReplySpin:
    """One thread's busy-wait state (not thread-safe: keep one per thread)."""

    __slots__ = ("_fd", "_make_poller", "_poller", "budget_ns", "misses", "skip")

    def __init__(self, budget: float) -> None:
        self.budget_ns = round(budget * 1e9)
        self.skip = 0  # calls left to make without spinning
        self.misses = 0  # misses in a row
        self._fd = -1
        self._make_poller = _native_poll()  # looked up once, not on every call
        self._poller: select.poll | None = None

    def wait(self, sock: socket.socket | None) -> bool | None:
        """Spin until sock is readable or the budget is spent: True when the reply came,
        False on a miss, None when it did not spin (skipping, or a socket it cannot
        watch: TLS buffers what it decrypts, so the kernel's view would mislead; a closed
        one; without the operating system's `select.poll`, see _native_poll)."""
        if self.skip:
            self.skip -= 1
            return None
        make_poller = self._make_poller
        if type(sock) is not socket.socket or make_poller is None:
            return None
        fd = sock.fileno()
        if fd < 0:  # closed by another thread (HotPath.close) since the send
            return None
        if fd != self._fd or self._poller is None:
            self._poller = make_poller()
            self._poller.register(fd, select.POLLIN)
            self._fd = fd
        poll = self._poller.poll
        deadline = time.perf_counter_ns() + self.budget_ns
        while not poll(0):
            if time.perf_counter_ns() > deadline:
                self.misses = min(self.misses + 1, MAX_MISSES)
                self.skip = 1 << self.misses
                return False
        self.misses = 0
        return True
