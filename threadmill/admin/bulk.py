"""Whole-set actions ("requeue all failed", "purge all successful", "cancel all ready") in
bounded slices.

One slice calls `requeue_batch` / `purge_batch` (each one script call over `batch_size`
tasks, so Redis is never blocked for long), or for a cancel reads the first `batch_size`
tasks of the set (one page) and cancels them (one script call), until the set is empty,
the action's target is reached, nothing moves any more, or the slice's time budget is
spent. The admin runs slice after slice (an htmx loop, or a form without JavaScript) and
shows the progress between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import TaskState


@dataclass(frozen=True, slots=True)
class Slice:
    done: int  # tasks requeued / purged / cancelled by this slice
    remaining: int  # left in the set afterwards (as Redis counted it)
    finished: bool  # nothing left, or the target was reached
    stalled: bool  # the set is not empty but nothing could be moved (corrupt records)
    calls: int  # chunks handled: a script call each (a cancel: a page read, then a call)


def cancel_step(
    backend: ThreadmillBackend, queue: str, state: TaskState, *, who: str, retrying: bool
) -> tuple[int, int]:
    """Cancel the first `batch_size` tasks of a set: (cancelled, left in the set). A task
    a worker took meanwhile gets a cancellation request: it has left the set too."""
    page = backend.list_tasks(queue, state, 0, backend.config.batch_size, retrying=retrying)
    if not page.items:
        return 0, page.total
    outcomes = backend.cancel([t.id for t in page.items], who=who)
    moved = sum(1 for o in outcomes.values() if o in ("cancelled", "requested"))
    return moved, max(0, page.total - moved)


def run_slice(
    backend: ThreadmillBackend,
    action: str,
    queue: str,
    state: TaskState,
    *,
    limit: int,
    budget_seconds: float,
    who: str = "",
    retrying: bool = False,
) -> Slice:
    """Requeue, purge or cancel (as `who`) up to about `limit` tasks of a set (with
    `retrying`: the retrying subset of the deferred tasks, cancel only), for at most about
    budget_seconds (always at least one call). `limit` bounds a set that keeps growing
    (tasks that fail again at once, producers still enqueuing): it may be passed by at
    most one chunk."""
    step: Callable[[str, TaskState], tuple[int, int]]
    if action == "requeue" and not retrying:
        step = backend.requeue_batch
    elif action == "purge" and not retrying:
        step = backend.purge_batch
    elif action == "cancel" and who:
        step = partial(cancel_step, backend, who=who, retrying=retrying)
    else:
        raise ValueError(f"Unknown action {action!r} (or a cancel without who).")
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
