"""A worker process: `--threads` task threads that acquire, run and acknowledge tasks.

Created by the master with `os.fork()`; it receives parameters (`WorkerSpec`), never a
socket, and opens its own Redis connections. Each task thread loops:

    acquire -> run -> acknowledge + acquire the next (one round trip) -> run -> ...

and, when the queues are empty, parks on Redis instead of polling: it blocks on its own
mailbox, where the enqueue script puts the lease of the next task (see park.lua). The
process's main thread only supervises: it turns SIGTERM / SIGINT into a graceful stop
(threads finish and acknowledge what they hold; parked threads are sent a stop request),
stops when the master is gone, enforces the attempts' time limits (`limits.py`, which also
runs the thread that receives cancellation requests), follows the pool's quiet flag (in the
scoreboard; SIGUSR1 says it changed): quiet, threads finish what they hold, take nothing
new and wait in the process, parked ones are woken; resumed, they park again; and exits
once every thread is done.
A failed attempt is put back for a retry in the same acknowledgement when its retry
policy says so.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import TypeVar, cast

from django.tasks import task_backends

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import AckOutcome, AckResult, Lease
from threadmill.exceptions import BackendUnavailable
from threadmill.signals import worker_started

from .limits import Attempts, retry_after
from .runner import Outcome, announce_finished, run_lease
from .scoreboard import Scoreboard

logger = logging.getLogger("threadmill")

EXIT_OK = 0  # stopped, recycled: the master starts a replacement unless it is stopping
EXIT_CRASH = 1  # the worker's own loop failed: restarted at once
EXIT_BOOT_ERROR = 3  # could not start (a worker_started receiver raised): restarted w/ backoff
EXIT_EMPTY = 4  # --exit-empty and every listened queue was empty

T = TypeVar("T")

IDLE, ACQUIRING, RUNNING, DONE = "idle", "acquiring", "running", "done"
QUIET = "quiet"  # not parked: waiting in the process until the pool takes tasks again


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs, handed over the fork as plain values."""

    alias: str
    queues: tuple[str, ...]
    threads: int
    max_tasks: int | None  # jitter already applied; None: never recycle
    exit_empty: bool
    worker_id: str
    master_pid: int
    spin_replies: bool = True  # False when the pool has a process for every usable core
    nice: int = 0  # lower the process's CPU priority by this much (os.nice)


class Worker:
    def __init__(self, spec: WorkerSpec, scoreboard: Scoreboard) -> None:
        self.spec = spec
        self.scoreboard = scoreboard
        self.lock = threading.Lock()
        self.states = [IDLE] * spec.threads
        self.stopping = False
        self.recycling = False
        self.quiet = scoreboard.quiet  # a worker started while the pool is quiet starts quiet
        self.changed = threading.Condition(self.lock)  # quiet threads wait on it
        self.processed = 0
        self.wakeup = threading.Event()  # set on stop: ends backoff sleeps, wakes main
        self._tokens = itertools.count(1)
        self._last_warning = -1e9
        self.backend = cast(ThreadmillBackend, task_backends[spec.alias])  # the master checked
        self.backend.prepare_worker_process(spin_replies=spec.spin_replies)
        self.config = self.backend.config
        self.attempts = Attempts(
            self.backend, spec.worker_id, self.config.retry_policy(), scoreboard.set_exit_reason
        )

    # ---- process ----------------------------------------------------------------------

    def run(self) -> int:
        """Run in the forked child; returns the exit code."""
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGQUIT, lambda *_: os._exit(EXIT_OK))
        for ignored in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(ignored, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, lambda *_: self.wakeup.set())  # the quiet flag changed
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        try:
            worker_started.send(sender=Worker, worker_id=self.spec.worker_id)
        except Exception:
            logger.exception(
                "Worker %s (pid %d) could not boot: a worker_started receiver raised",
                self.spec.worker_id,
                os.getpid(),
            )
            self.scoreboard.set_exit_reason(EXIT_BOOT_ERROR)
            return EXIT_BOOT_ERROR
        self.scoreboard.mark_booted()
        threads = [
            threading.Thread(
                target=self._thread_main, args=(i,), daemon=True, name=f"threadmill-task-{i}"
            )
            for i in range(self.spec.threads)
        ]
        for thread in threads:
            thread.start()
        threading.Thread(
            target=self.attempts.listen,
            args=(self.config.block_timeout, lambda: self.stopping),
            daemon=True,
            name="threadmill-control",
        ).start()
        return self._supervise(threads)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()

    def request_stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.changed.notify_all()
        self.wakeup.set()

    def _follow_quiet(self) -> None:
        """Apply the pool's quiet flag: quiet, wake the parked threads (they take nothing
        new: a task handed to one in the same instant, it runs); resumed, let the waiting
        threads park again."""
        quiet = self.scoreboard.quiet
        with self.lock:
            if quiet == self.quiet:
                return
            self.quiet = quiet
            self.changed.notify_all()
            parked = [i for i, state in enumerate(self.states) if state == IDLE]
        logger.info(
            "Worker %s %s",
            self.spec.worker_id,
            "quiet: taking no new tasks" if quiet else "resumed",
        )
        if quiet and parked:
            try:
                self.backend.request_stop([self._mailbox(i) for i in parked])
            except BackendUnavailable as exc:  # nothing can be handed to them either
                self._warn_unavailable(exc)

    def _supervise(self, threads: list[threading.Thread]) -> int:
        asked: set[int] = set()  # parked threads sent a stop request
        stuck_since = None
        while True:
            self.wakeup.wait(self._tick(1.0 if not asked else 0.2))
            self.wakeup.clear()
            self.attempts.enforce_deadlines()
            self._follow_quiet()
            if os.getppid() != self.spec.master_pid and not self.stopping:
                logger.warning("Worker %s: master is gone, stopping", self.spec.worker_id)
                self.request_stop()
            with self.lock:
                live = [i for i, t in enumerate(threads) if t.is_alive()]
                if not live:
                    break
                winding_down = self.stopping or self.recycling
                parked = [i for i in live if self.states[i] == IDLE]
            if not winding_down:
                continue
            # Parked threads are woken with a stop request; one may have been handed a task
            # in the same instant, and then runs it (graceful: what a thread holds, it runs).
            to_ask = [i for i in parked if i not in asked]
            if to_ask:
                try:
                    self.backend.request_stop([self._mailbox(i) for i in to_ask])
                    asked.update(to_ask)
                except BackendUnavailable:
                    asked.update(to_ask)  # Redis is down: nothing can be handed to them
            if parked and len(parked) == len(live):
                stuck_since = stuck_since or time.monotonic()
                # Still parked long after the request: Redis is unreachable, so they hold
                # nothing (the master resolves whatever Redis says they hold).
                if time.monotonic() - stuck_since > self.config.socket_timeout + 1:
                    break
            else:
                stuck_since = None
        code = EXIT_OK
        if self.spec.exit_empty and not self.stopping and not self.recycling:
            code = EXIT_EMPTY
        self.scoreboard.set_exit_reason(code)
        return code

    def _tick(self, longest: float) -> float:
        """How long the main thread may sleep: until the next time limit, at most longest."""
        deadline = self.attempts.next_deadline()
        if deadline is None:
            return longest
        return min(longest, max(deadline - time.monotonic(), 0.0) + 0.01)

    # ---- task threads -----------------------------------------------------------------

    def _thread_main(self, index: int) -> None:
        try:
            lease, after_idle = None, True
            while True:
                if lease is None:
                    lease, after_idle = self._acquire(index), True
                    if lease is None:
                        return
                lease = self._process(index, lease, after_idle)
                after_idle = False
        except BaseException:
            # A bug in the loop itself: crash the process so the master resolves what it
            # held and starts a fresh worker, rather than running on with a thread short.
            logger.critical(
                "Worker %s thread %d crashed", self.spec.worker_id, index, exc_info=True
            )
            logging.shutdown()
            os._exit(EXIT_CRASH)
        finally:
            self.wakeup.set()  # let the main thread see that this thread is done

    def _token(self, index: int) -> str:
        return f"{self.spec.worker_id}/{index}.{next(self._tokens)}"

    def _may_take_more(self) -> bool:
        return not (self.stopping or self.recycling)

    def _mailbox(self, index: int) -> str:
        return f"{self.spec.worker_id}/{index}"

    def _acquire(self, index: int) -> Lease | None:
        """The next lease for thread index: leased at once, or handed to it while it waits
        parked on Redis. None when the thread must stop."""
        spec, backend = self.spec, self.backend
        mailbox = self._mailbox(index)
        while True:
            with self.lock:
                if not self._may_take_more():
                    self.states[index] = DONE
                    return None
                if self.quiet:
                    self.states[index] = QUIET
                    self.changed.wait(1.0)
                    continue
                self.states[index] = ACQUIRING
            token = self._token(index)
            if spec.exit_empty:  # drain, never wait
                lease = self._retrying(partial(backend.acquire, spec.worker_id, spec.queues, token))
                with self.lock:
                    self.states[index] = RUNNING if lease else DONE
                return lease
            lease = self._retrying(
                partial(backend.park, spec.worker_id, spec.queues, token, mailbox)
            )
            if lease is not None:
                self.states[index] = RUNNING
                return lease
            with self.lock:
                wait = self._may_take_more() and not self.quiet
                if wait:
                    self.states[index] = IDLE
            if wait:
                try:
                    lease = backend.wait_for_lease(mailbox, self.config.block_timeout)
                except BackendUnavailable as exc:
                    self._warn_unavailable(exc)
                with self.lock:
                    self.states[index] = ACQUIRING
            if lease is None:  # timed out, failed, or asked to stop: was a task handed over?
                lease = self._retrying(partial(backend.unpark, spec.worker_id, mailbox, token))
            if lease is not None:  # handed to this thread: it runs it, stopping or not
                self.states[index] = RUNNING
                return lease

    def _retrying(self, call: Callable[[], T]) -> T | None:
        """Call until Redis answers, with capped backoff. Safe: every call is idempotent.
        Gives up (None) when the worker stops."""
        return self._until_answered(call, give_up_on_stop=True)

    def _until_answered(self, call: Callable[[], T], give_up_on_stop: bool = False) -> T:
        """Call until Redis answers (acknowledgements: what a thread holds is always
        stored); with give_up_on_stop, None once the worker stops (see _retrying)."""
        delay, failed = 0.05, False
        while True:
            try:
                result = call()
            except BackendUnavailable as exc:
                if self.stopping and give_up_on_stop:
                    return None  # type: ignore[return-value]  # only through _retrying
                self._warn_unavailable(exc)
                failed = True
                threading.Event().wait(delay)
                delay = min(delay * 2, 1.0)
            else:
                if failed:
                    logger.info("Worker %s: Redis answers again", self.spec.worker_id)
                return result

    def _warn_unavailable(self, exc: Exception) -> None:
        """Log Redis being unreachable once, then at most every 30 s (threads retry)."""
        now = time.monotonic()
        if now - self._last_warning > 30:
            self._last_warning = now
            logger.warning("Worker %s: %s; retrying", self.spec.worker_id, exc)

    def _count(self) -> None:
        with self.lock:
            self.processed += 1
            limit = self.spec.max_tasks
            if limit is not None and self.processed >= limit and not self.recycling:
                self.recycling = True
                self.wakeup.set()
                logger.info(
                    "Worker %s recycling after %d tasks", self.spec.worker_id, self.processed
                )

    def _process(self, index: int, lease: Lease, after_idle: bool) -> Lease | None:
        """Run a lease, acknowledge it and lease the next in the same call (if any)."""
        spec, backend = self.spec, self.backend
        self.scoreboard.task_started(index, lease.task_id, lease.path)
        running = self.attempts.start(index, lease)
        try:
            outcome = run_lease(
                lease,
                spec.alias,
                type(backend),
                self.config.max_result_size,
                after_idle=after_idle,
                running=running,
            )
        finally:
            self.attempts.finish(index)
        retry = None
        if not outcome.succeeded:
            retry = retry_after(running, outcome.exception, self.attempts.default_retry)
        self._count()
        with self.lock:
            next_token = self._token(index) if self._may_take_more() and not self.quiet else ""
        ack = self._until_answered(
            lambda: backend.acknowledge(
                lease,
                spec.worker_id,
                succeeded=outcome.succeeded,
                value_json=outcome.value_json,
                next_token=next_token,
                queues=spec.queues,
                retry_after=retry,
            )
        )
        self.scoreboard.task_finished(index, failed=not outcome.succeeded)
        self._log(lease, outcome, ack, retry)
        if retry is None:  # a retried task has not finished
            announce_finished(outcome, type(backend), ack.finished_at)
        return ack.next_lease

    def _log(self, lease: Lease, outcome: Outcome, ack: AckResult, retry: float | None) -> None:
        wid = self.spec.worker_id
        if ack.outcome == AckOutcome.LEASE_LOST:
            logger.warning(
                "Task %s (%s): result discarded, LEASE_LOST: its lease expired (lease_ttl) "
                "or it was handed to another worker",
                lease.task_id,
                lease.path,
            )
        elif ack.outcome == AckOutcome.GONE:
            logger.error(
                "Task %s (%s): result discarded, GONE: the record was purged or Redis lost it",
                lease.task_id,
                lease.path,
            )
        elif ack.outcome == AckOutcome.ALREADY_DONE:
            logger.info("Task %s: acknowledgement retried, ALREADY_DONE", lease.task_id)
        if not outcome.succeeded:
            logger.warning(
                "Task %s (%s) failed on %s attempt %d: %s%s",
                lease.task_id,
                lease.path,
                wid,
                lease.attempt,
                outcome.error_summary,
                "" if retry is None else f"; retrying in {retry:.3g} s",
            )
        else:
            logger.debug("Task %s (%s) succeeded on %s", lease.task_id, lease.path, wid)
