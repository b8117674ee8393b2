"""Time limits, cancellation requests and retries of the attempts one worker process runs.

`Attempts` keeps the running attempts of the process's task threads (`RunningTask`s, see
`threadmill.running`) and stops one when it must:

* **time limit**: the worker's main thread calls `enforce_deadlines()` about every second;
* **cancellation**: a control thread blocks on the worker's control list in Redis
  (`wait_for_control`, one blocking call per `block_timeout` when idle) and marks the
  attempt (`cancel_requested_by`); a `terminate` request stops it. A request can arrive
  before its attempt starts (Redis marks a task RUNNING when it hands the lease over, a
  moment before the thread registers it): it is kept (`UNCLAIMED_SECONDS`), and the attempt
  it names ends `Cancelled` without running when it starts.

Stopping an async task cancels it in its event loop: its thread records the error and
carries on. A sync task's thread cannot be stopped from outside, so the process stores the
attempt's outcome (FAILED with the error, or retried when its policy says so), then exits
with EXIT_REPLACED: the master starts a new worker and puts the other tasks of this process
back to READY without charging them an attempt (they did nothing wrong).

`retry_after()` asks an attempt's retry policy (its task's, else the alias's) after it failed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.tasks import TaskContext

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import ControlRequest, Lease
from threadmill.exceptions import BackendUnavailable, Cancelled, TimeLimitExceeded
from threadmill.retry import RetryCallable, retry_delay
from threadmill.running import RunningTask
from threadmill.task import task_retry
from threadmill.task_codec import error_json

logger = logging.getLogger("threadmill")

EXIT_REPLACED = 5  # a sync task had to be stopped: the master requeues the rest, uncharged
#: How long a cancellation request for an attempt not started yet is kept for it, and how
#: many such requests at most (one for a task that finished meanwhile is never claimed).
UNCLAIMED_SECONDS = 300.0
UNCLAIMED_MAX = 1000


def retry_after(
    running: RunningTask, exception: BaseException | None, default: RetryCallable | None
) -> float | None:
    """Seconds until the next attempt of a failed attempt, or None (give up)."""
    result = running.task_result
    if result is None or exception is None:
        return None  # the task could not even be loaded: retrying will not help
    policy = task_retry(result.task, default)
    return retry_delay(policy, TaskContext(task_result=result), exception)


class Attempts:
    """The running attempts of one worker process, by task thread."""

    def __init__(
        self,
        backend: ThreadmillBackend,
        worker_id: str,
        default_retry: RetryCallable | None,
        before_exit: Callable[[int], None],
    ) -> None:
        self.backend = backend
        self.worker_id = worker_id
        self.default_retry = default_retry
        self.before_exit = before_exit  # records the exit reason for the master
        self._lock = threading.Lock()
        self._running: dict[int, tuple[Lease, RunningTask]] = {}
        self._unclaimed: dict[str, tuple[ControlRequest, float]] = {}  # by task id
        self._replacing = False

    # ---- registry ---------------------------------------------------------------------

    def start(self, index: int, lease: Lease) -> RunningTask:
        running = RunningTask(
            lease.task_id,
            lease.attempt,
            lease.timeout,
            extend_lease=lambda seconds: self._extend(lease, seconds),
            read_record=lambda: self.backend.get_task(lease.task_id),
        )
        with self._lock:
            self._running[index] = (lease, running)
            early = self._unclaimed.pop(lease.task_id, None)
        if early is not None and early[0].token in ("", lease.token):
            request = early[0]
            running.cancel_requested_by = request.who
            running.stopped_with = Cancelled(f"cancelled by {request.who} before it started")
            logger.info("Task %s: cancelled by %s before it started", lease.task_id, request.who)
        return running

    def finish(self, index: int) -> None:
        with self._lock:
            self._running.pop(index, None)

    def _extend(self, lease: Lease, seconds: float) -> None:
        outcome = self.backend.extend_lease(lease, seconds)
        if outcome != "OK":
            raise Cancelled(f"the lease of task {lease.task_id} is no longer held ({outcome})")

    def next_deadline(self) -> float | None:
        with self._lock:
            deadlines = [r.deadline for _, r in self._running.values() if r.deadline is not None]
        return min(deadlines) if deadlines else None

    # ---- stopping ---------------------------------------------------------------------

    def enforce_deadlines(self) -> None:
        """Stop every attempt past its time limit (called by the worker's main thread)."""
        now = time.monotonic()
        with self._lock:
            overdue = [(lease, r) for lease, r in self._running.values() if r.overdue(now)]
        for lease, running in overdue:
            why = TimeLimitExceeded(
                f"task {lease.task_id} ({lease.path}) ran past its time limit of "
                f"{running.timeout:g} s (attempt {lease.attempt})"
            )
            self._stop(lease, running, why)

    def _stop(self, lease: Lease, running: RunningTask, why: BaseException) -> None:
        if running.stop(why):
            logger.warning("Task %s: %s; cancelled in its event loop", lease.task_id, why)
            return
        self._replace_process(lease, running, why)

    def _replace_process(self, lease: Lease, running: RunningTask, why: BaseException) -> None:
        """Store the stopped sync attempt's outcome and exit; never returns."""
        with self._lock:
            if self._replacing:
                return
            self._replacing = True
        logger.error(
            "Worker %s: %s; replacing the worker process (its other tasks are requeued)",
            self.worker_id,
            why,
        )
        delay = retry_after(running, why, self.default_retry)
        for pause in (0.05, 0.2, 0.5, 1.0, 2.0):
            try:
                self.backend.acknowledge(
                    lease,
                    self.worker_id,
                    succeeded=False,
                    value_json=error_json(why),
                    retry_after=delay,
                )
                break
            except BackendUnavailable as exc:
                logger.warning("Worker %s: cannot store the outcome yet: %s", self.worker_id, exc)
                time.sleep(pause)
        self.before_exit(EXIT_REPLACED)
        logging.shutdown()
        os._exit(EXIT_REPLACED)

    # ---- cancellation requests --------------------------------------------------------

    def listen(self, block_timeout: float, stopping: Callable[[], bool]) -> None:
        """The control thread: receive cancellation requests until the worker stops."""
        pause = 0.05
        while not stopping():
            try:
                requests = self.backend.wait_for_control(self.worker_id, block_timeout)
                pause = 0.05
            except BackendUnavailable:
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            for request in requests:
                self.receive(request)

    def _keep_unclaimed(self, request: ControlRequest) -> None:
        """Keep a request whose attempt has not started (called with the lock held)."""
        now = time.monotonic()
        for task_id, (_, at) in list(self._unclaimed.items()):  # the oldest first
            if now - at <= UNCLAIMED_SECONDS and len(self._unclaimed) < UNCLAIMED_MAX:
                break
            del self._unclaimed[task_id]
        self._unclaimed.pop(request.task_id, None)  # a repeated request goes to the end
        self._unclaimed[request.task_id] = (request, now)

    def receive(self, request: ControlRequest) -> None:
        with self._lock:
            found = [
                (lease, r)
                for lease, r in self._running.values()
                if lease.task_id == request.task_id and request.token in ("", lease.token)
            ]
            if not found:
                self._keep_unclaimed(request)
        for lease, running in found:
            running.cancel_requested_by = request.who
            logger.info("Task %s: cancellation requested by %s", lease.task_id, request.who)
            if request.terminate:
                why = Cancelled(f"terminated by {request.who} while RUNNING")
                self._stop(lease, running, why)
