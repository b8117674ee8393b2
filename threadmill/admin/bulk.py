"""Whole-set actions ("requeue all failed", "purge all successful") in bounded slices.

One slice calls `requeue_batch` / `purge_batch` (each one script call over `batch_size`
tasks, so Redis is never blocked for long) until the set is empty, the action's target is
reached, nothing moves any more, or the slice's time budget is spent. The admin runs slice
after slice (an htmx loop, or a form without JavaScript) and shows the progress between them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import TaskState


@dataclass(frozen=True, slots=True)
class Slice:
    done: int  # tasks requeued / purged by this slice
    remaining: int  # left in the set afterwards (as Redis counted it)
    finished: bool  # nothing left, or the target was reached
    stalled: bool  # the set is not empty but nothing could be moved (corrupt records)
    calls: int  # script calls made


def run_slice(
    backend: ThreadmillBackend,
    action: str,
    queue: str,
    state: TaskState,
    *,
    limit: int,
    budget_seconds: float,
) -> Slice:
    """Requeue or purge up to about `limit` tasks of a set, for at most about budget_seconds
    (always at least one call). `limit` bounds a set that keeps growing (tasks that fail
    again at once, producers still enqueuing): it may be passed by at most one chunk."""
    if action not in ("requeue", "purge"):
        raise ValueError(f"Unknown action {action!r}.")
    step = backend.requeue_batch if action == "requeue" else backend.purge_batch
    deadline = time.monotonic() + budget_seconds
    done = calls = 0
    previous: int | None = None
    while True:
        moved, remaining = step(queue, state)
        calls += 1
        done += moved
        if remaining == 0 or done >= limit:
            return Slice(done, remaining, True, False, calls)
        if moved == 0 and previous is not None and remaining >= previous:
            return Slice(done, remaining, False, True, calls)
        previous = remaining if moved == 0 else None
        if time.monotonic() >= deadline:
            return Slice(done, remaining, False, False, calls)
