"""A short busy-wait for a reply that is about to arrive (the `reply_spin` option).

A thread that blocks in the kernel on its socket sleeps; on a virtual machine, waking it
when the reply lands costs tens of microseconds (the idle virtual CPU is halted and must be
resumed), about as long as the whole round trip to a Redis on the same host. A thread that
polls its socket for a few dozen microseconds instead never sleeps and sees the reply at
once. Measured on a 2-core VM: a PING 64 -> 23 us, `task.enqueue()` ~1.6x and a 1x1 drain
~1.5x faster (docs/performance.md).

The calls made for every task spin: an enqueue, a worker's acknowledge-and-lease. An idle
thread's calls do not (it is about to block anyway), nor do a worker's when its pool has a
process for every core (`spin_replies`: a spinning worker would hold a core that Redis and
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

#: Calls made without spinning after repeated misses, at most.
MAX_SKIPPED = 256


class ReplySpin:
    """One thread's busy-wait state (not thread-safe: keep one per thread)."""

    __slots__ = ("_fd", "_poller", "budget_ns", "misses", "skip")

    def __init__(self, budget: float) -> None:
        self.budget_ns = round(budget * 1e9)
        self.skip = 0  # calls left to make without spinning
        self.misses = 0  # misses in a row
        self._fd = -1
        self._poller: select.poll | None = None

    def wait(self, sock: socket.socket | None) -> bool | None:
        """Spin until sock is readable or the budget is spent: True when the reply came,
        False on a miss, None when it did not spin (skipping, or a socket it cannot
        watch: TLS buffers what it decrypts, so the kernel's view would mislead; without
        `select.poll`, as under gevent's monkey-patching, where a spin would stall every
        greenlet)."""
        if self.skip:
            self.skip -= 1
            return None
        make_poller = getattr(select, "poll", None)  # not on Windows, nor under gevent
        if type(sock) is not socket.socket or make_poller is None:
            return None
        fd = sock.fileno()
        if fd != self._fd or self._poller is None:
            self._poller = make_poller()
            self._poller.register(fd, select.POLLIN)
            self._fd = fd
        poll = self._poller.poll
        deadline = time.perf_counter_ns() + self.budget_ns
        while not poll(0):
            if time.perf_counter_ns() > deadline:
                self.misses += 1
                self.skip = min(1 << self.misses, MAX_SKIPPED)
                return False
        self.misses = 0
        return True
