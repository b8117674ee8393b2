"""What a running task can ask about itself: `current_task()` in the task's code.

    from threadmill import current_task

    @task(timeout=timedelta(minutes=2))
    def export(batch_id):
        for chunk in chunks(batch_id):
            current_task().raise_if_cancelled()   # stop early when someone cancels it
            write(chunk)
            current_task().extend(timedelta(minutes=2))  # more time, while making progress

The worker pool creates one `RunningTask` per attempt and makes it current while the task
runs (in the task's thread, and in its event loop for an async task). A cancellation
request (admin, `threadmill_ctl cancel`, `backend.cancel()`) sets `cancel_requested_by`;
the task decides when to stop, by calling `raise_if_cancelled()`. A time limit or an
explicit terminate stops an async task by cancelling it in its event loop; a sync task's
thread cannot be stopped from outside, so its worker process is replaced.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from .exceptions import Cancelled

_current: ContextVar[RunningTask | None] = ContextVar("threadmill_running_task", default=None)


class RunningTask:
    """One attempt of a task, as the worker running it sees it."""

    def __init__(
        self,
        task_id: str,
        attempt: int,
        timeout: float | None,
        extend_lease: Callable[[float], Any] | None = None,
        read_record: Callable[[], Any] | None = None,
    ) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.timeout = timeout
        #: monotonic time after which the attempt is stopped (None: no time limit)
        self.deadline = None if timeout is None else time.monotonic() + timeout
        #: who asked to cancel it ('' = nobody)
        self.cancel_requested_by = ""
        #: why the worker stopped it (TimeLimitExceeded or Cancelled), once it did
        self.stopped_with: BaseException | None = None
        #: the attempt's TaskResult, once the task is loaded (for the retry policy)
        self.task_result: Any = None
        self._extend_lease = extend_lease
        self._read_record = read_record
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[Any] | None = None

    @property
    def cancel_requested(self) -> bool:
        return bool(self.cancel_requested_by)

    @property
    def slot(self) -> datetime | None:
        """For a task a periodic schedule enqueued: the slot this run is for (an aware
        datetime; read from Redis on first use). None for any other task."""
        if not hasattr(self, "_slot"):
            record = self._read_record() if self._read_record else None
            self._slot = record.slot if record is not None else None
        return self._slot

    def raise_if_cancelled(self) -> None:
        """Raise `Cancelled` when a cancellation was requested (the task then ends FAILED
        with it, and is not retried)."""
        if self.cancel_requested_by:
            raise Cancelled(f"cancelled by {self.cancel_requested_by} while RUNNING")

    def extend(self, duration: timedelta | float) -> None:
        """Give this attempt `duration` more from now: its time limit and its lease (so the
        broker does not take it for lost). Raises when Redis does not answer."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        if seconds <= 0:
            raise ValueError(f"extend() needs a positive duration, got {duration!r}.")
        if self._extend_lease is not None:
            self._extend_lease(seconds)
        with self._lock:
            self.deadline = time.monotonic() + seconds

    # ---- used by the worker -------------------------------------------------------------

    def overdue(self, now: float) -> bool:
        with self._lock:
            return self.deadline is not None and now >= self.deadline and not self.stopped_with

    def attach(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        """An async task's event loop and asyncio task, so that it can be cancelled."""
        with self._lock:
            self._loop, self._future = loop, future

    def stop(self, why: BaseException) -> bool:
        """Stop the attempt with `why`: True when it could be (an async task, cancelled in
        its loop); False for a sync task (only replacing its process stops it)."""
        with self._lock:
            if self.stopped_with is None:
                self.stopped_with = why
            loop, future = self._loop, self._future
        if loop is None or future is None:
            return False
        loop.call_soon_threadsafe(future.cancel)
        return True

    def activate(self) -> Any:
        return _current.set(self)

    @staticmethod
    def deactivate(token: Any) -> None:
        _current.reset(token)


def current_task() -> RunningTask:
    """The attempt running in this thread (or event loop). Raises RuntimeError outside a
    Threadmill worker (e.g. when a test calls the task function directly)."""
    running = _current.get()
    if running is None:
        raise RuntimeError(
            "current_task() is only available inside a task run by a Threadmill worker."
        )
    return running
