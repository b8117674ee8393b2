"""Reads for display: the admin pages and `threadmill_top` read through a client that waits
at most the alias's `admin_timeout` and never retries.

A person looking at a page wants an "unavailable" banner within a second or so when Redis
is down or frozen, not after `socket_timeout` x (1 + `retry_attempts`) (about 20 s with the
defaults). The pool and the producers keep their own clients, timeouts and retries: only
code that runs inside `display_reads()` is affected, and only the inspection API's reads
(counts, pages, one task, pools, server health); requeue, purge and cancel keep the command
client and its retries (their scripts are idempotent).

A context variable, so it holds per thread (and per asyncio task) and never leaks into
other requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_active: ContextVar[bool] = ContextVar("threadmill_display_reads", default=False)


@contextmanager
def display_reads() -> Iterator[None]:
    """Within it, every Threadmill backend's inspection reads use the short-timeout client."""
    token = _active.set(True)
    try:
        yield
    finally:
        _active.reset(token)


def active() -> bool:
    """Whether the current code runs inside `display_reads()`."""
    return _active.get()
