"""Control requests a pool receives through Redis (from the admin's Workers page or
`manage.py threadmill_ctl pool ...`), applied by its master.

The broker takes them with its maintenance call every `broker_interval`
(`backend.maintain(pool_id=...)`, no extra round trip); the master applies them in its loop:

* `quiet`: workers take no new tasks and finish what they hold (parked threads are woken);
  the flag sits in each worker's scoreboard, so a worker started meanwhile starts quiet,
  and SIGUSR1 tells a running worker to look at it now;
* `resume`: take tasks again;
* `stop`: stop gracefully, as SIGTERM does (exit code 0);
* `add-worker` / `remove-worker`: one worker process more / fewer, as SIGTTIN / SIGTTOU.

Quiet lives in the master's memory: a restarted pool is not quiet (pause a queue for a
pause that outlives pools).
"""

from __future__ import annotations

import logging
import signal
from typing import Protocol

from .children import WorkerHandle

logger = logging.getLogger("threadmill")


class ControlledPool(Protocol):
    """What a request needs of the pool's master (the `Arbiter`)."""

    pool_id: str
    quiet: bool
    workers: dict[int, WorkerHandle]
    stopping_since: float | None

    def stop_gracefully(self, why: str) -> None: ...
    def handle_ttin(self) -> None: ...
    def handle_ttou(self) -> None: ...


def set_quiet(arbiter: ControlledPool, quiet: bool) -> None:
    """Write the flag into every worker's scoreboard and wake the booted workers (one not
    booted yet has no SIGUSR1 handler: it reads the flag when it starts)."""
    arbiter.quiet = quiet
    for handle in arbiter.workers.values():
        handle.scoreboard.quiet = quiet
        if handle.scoreboard.booted:
            handle.signal(signal.SIGUSR1)


def apply(arbiter: ControlledPool, action: str) -> None:
    """Carry out one request."""
    logger.info("Pool %s: %s requested", arbiter.pool_id, action)
    if action == "stop":
        if arbiter.stopping_since is None:
            arbiter.stop_gracefully("stop requested")
    elif action == "add-worker":
        arbiter.handle_ttin()
    elif action == "remove-worker":
        arbiter.handle_ttou()
    elif action in ("quiet", "resume"):
        set_quiet(arbiter, action == "quiet")
        logger.info(
            "Pool %s %s",
            arbiter.pool_id,
            "is quiet: no new tasks; running ones finish" if arbiter.quiet else "takes tasks again",
        )
    else:
        logger.warning("Pool %s: unknown request %r ignored", arbiter.pool_id, action)
