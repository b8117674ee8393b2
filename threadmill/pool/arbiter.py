"""The master process of the pool (Gunicorn's arbiter pattern). It never runs tasks.

It forks `processes` workers and then loops: sleep on a self-pipe until a signal arrives or
a duty is due, handle queued signals (one `handle_<name>` method each: signal handlers only
queue, see `signal_pipe.py`), reap dead children with `waitpid(-1, WNOHANG)`, have the
broker resolve what a dead worker held (within the loop turn, not after `lease_ttl`), start
replacements (with backoff when workers cannot even boot), heartbeat and run maintenance
(`broker.py`), and kill a worker whose task overran its lease. The master is
single-threaded, so forking it is safe.

Signals: TERM / INT graceful stop (a second one stops at once), QUIT immediate stop, HUP
replace all workers gracefully, TTIN / TTOU one worker process more / fewer. The same
controls (and quiet / resume) can be requested through Redis (`remote.py`).
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connections

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.pool_records import PoolReport

from . import remote
from .broker import Broker
from .children import (
    WorkerHandle,
    describe_exit,
    fork_worker,
    hostname,
    rss_bytes,
    usable_cores,
)
from .limits import EXIT_REPLACED
from .scoreboard import Scoreboard
from .signal_pipe import HANDLED_SIGNALS, SignalPipe
from .worker import EXIT_BOOT_ERROR, EXIT_CRASH, EXIT_EMPTY, EXIT_OK, WorkerSpec

logger = logging.getLogger("threadmill")

MAX_BOOT_BACKOFF = 30.0


@dataclass(frozen=True)
class PoolSpec:
    """How a pool was asked to run (the command line of `manage.py threadmill`)."""

    alias: str
    queues: tuple[str, ...]
    processes: int
    threads: int
    max_tasks: int | None = None
    max_tasks_jitter: int = 0
    exit_empty: bool = False
    graceful_timeout: float = 30.0
    max_memory: int | None = None  # bytes of RSS per worker process; None: no limit
    nice: int = 0  # worker processes lower their CPU priority by this much


class Arbiter:
    def __init__(self, spec: PoolSpec, backend: ThreadmillBackend) -> None:
        self.spec = spec
        self.backend = backend
        self.host = hostname()
        self.pid = os.getpid()
        self.pool_id = f"{self.host}.{self.pid}.{secrets.token_hex(2)}"
        self.processes = spec.processes
        self.cores = usable_cores()  # a worker spins for replies while processes < cores
        self.workers: dict[int, WorkerHandle] = {}
        self.broker = Broker(
            backend,
            self.pool_id,
            sorted(set(backend.queues) | set(spec.queues)),
            schedules=not spec.exit_empty,  # a one-off drain enqueues no periodic tasks
        )
        self.started_wall = time.time()
        self.restarts = 0
        self.crashes = 0
        self.spawned = 0
        self.boot_failures = 0
        self.next_spawn_at = 0.0
        self.stopping_since: float | None = None
        self.empty_exits = 0
        self.signals = SignalPipe()
        self.exit_code = 0
        self.quiet = False  # asked to take no new tasks (see remote.py)
        self._announce_workers = False  # a worker was spawned: heartbeat without waiting

    # ---- signals --------------------------------------------------------------------------

    def _handle_signals(self) -> None:
        """Handle the signals queued since the last turn (see signal_pipe.py)."""
        for signum in self.signals.pending():
            name = signal.Signals(signum).name.lower()
            getattr(self, f"handle_{name[3:]}")()

    def handle_term(self) -> None:
        if self.stopping_since is None:
            self.stop_gracefully("SIGTERM")
        else:
            self.stop_now("second stop signal")

    def handle_int(self) -> None:
        if self.stopping_since is None:
            self.stop_gracefully("SIGINT")
        else:
            self.stop_now("second stop signal")

    def handle_quit(self) -> None:
        self.stop_now("SIGQUIT")

    def handle_hup(self) -> None:
        logger.info("SIGHUP: replacing all %d worker(s) gracefully", len(self.workers))
        for handle in self.workers.values():
            if not handle.retiring:
                handle.retiring = True
                handle.signal(signal.SIGTERM)

    def handle_ttin(self) -> None:
        self.processes += 1
        logger.info("SIGTTIN: %d worker process(es)", self.processes)

    def handle_ttou(self) -> None:
        if self.processes <= 1:
            logger.info("SIGTTOU ignored: already at 1 worker process")
            return
        self.processes -= 1
        logger.info("SIGTTOU: %d worker process(es)", self.processes)
        active = [h for h in self.workers.values() if not h.retiring]
        if len(active) > self.processes:
            newest = max(active, key=lambda h: h.started_wall)
            newest.retiring = True
            newest.signal(signal.SIGTERM)

    # ---- stopping -------------------------------------------------------------------------

    def stop_gracefully(self, why: str) -> None:
        self.stopping_since = time.monotonic()
        logger.info(
            "%s: stopping gracefully; workers finish and acknowledge their tasks (up to %gs)",
            why,
            self.spec.graceful_timeout,
        )
        for handle in self.workers.values():
            handle.signal(signal.SIGTERM)

    def stop_now(self, why: str) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
        logger.warning(
            "%s: stopping now; running tasks are requeued (or FAILED after "
            "max_attempts) as for a crash",
            why,
        )
        for handle in self.workers.values():
            handle.killed_for = handle.killed_for or why
            handle.signal(signal.SIGKILL)

    # ---- workers --------------------------------------------------------------------------

    def spawn(self) -> None:
        self.spawned += 1
        worker_id = f"{self.pool_id}.{self.spawned}"
        scoreboard = Scoreboard(self.spec.threads)
        scoreboard.quiet = self.quiet
        max_tasks = self.spec.max_tasks
        if max_tasks is not None:
            max_tasks += random.randint(0, self.spec.max_tasks_jitter)
        worker_spec = WorkerSpec(
            alias=self.spec.alias,
            queues=self.spec.queues,
            threads=self.spec.threads,
            max_tasks=max_tasks,
            exit_empty=self.spec.exit_empty,
            worker_id=worker_id,
            master_pid=self.pid,
            spin_replies=self._workers_spin(),
            nice=self.spec.nice,
        )
        pid = fork_worker(worker_spec, scoreboard, HANDLED_SIGNALS, self.signals.fds)
        self.workers[pid] = WorkerHandle(pid, worker_id, scoreboard, time.time())
        logger.info("Worker %s started (pid %d)", worker_id, pid)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            handle = self.workers.pop(pid, None)
            if handle is not None:
                self._worker_exited(handle, status)

    def _worker_exited(self, handle: WorkerHandle, status: int) -> None:
        handle.kill_group()  # no orphans: whatever its tasks started goes with it
        how, code = describe_exit(status)
        booted = handle.scoreboard.booted
        if code is not None and code != handle.scoreboard.exit_reason:
            # Not an exit the worker announced (a task called os._exit(code)): a crash.
            code = EXIT_CRASH
        handle.scoreboard.close()
        if booted:
            self.boot_failures = 0
        reason = f"worker {handle.worker_id} (pid {handle.pid}) {how}"
        if handle.killed_for:
            reason += f" ({handle.killed_for})"
        if code == EXIT_BOOT_ERROR:
            self.boot_failures += 1
            delay = min(0.5 * 2 ** (self.boot_failures - 1), MAX_BOOT_BACKOFF)
            self.next_spawn_at = time.monotonic() + delay
            logger.error(
                "Worker %s could not boot (%s); next start in %.1fs (see the error above)",
                handle.worker_id,
                how,
                delay,
            )
        elif code == EXIT_REPLACED:
            logger.warning(
                "Worker %s replaced itself to stop a task (time limit or terminate); its "
                "other tasks go back to READY, not charged an attempt",
                handle.worker_id,
            )
            self.broker.resolve(handle.worker_id, reason, charge=False)
            return
        elif code == EXIT_EMPTY:
            self.empty_exits += 1
            logger.info("Worker %s exited: queues empty", handle.worker_id)
        elif code == EXIT_OK:
            logger.info(
                "Worker %s exited (%s)",
                handle.worker_id,
                "replaced" if handle.retiring else "stopped or recycled",
            )
        elif self.stopping_since is None or not handle.killed_for:
            self.crashes += 1
            logger.error(
                "Worker %s %s; its tasks are resolved and a new worker starts",
                handle.worker_id,
                how,
            )
        self.broker.resolve(handle.worker_id, reason)

    def spawn_missing(self) -> None:
        if self.stopping_since is not None or time.monotonic() < self.next_spawn_at:
            return
        active = sum(1 for h in self.workers.values() if not h.retiring)
        while active + self.empty_exits < self.processes:
            if self.spawned >= self.spec.processes:
                self.restarts += 1
            self.spawn()
            self._announce_workers = True
            active += 1
            if self.boot_failures:
                return  # one at a time while workers fail to boot

    def watchdog(self) -> None:
        """Kill a worker whose task overran its lease (the lease is already FAILED with
        AcknowledgementTimeout, and only a new process frees the stuck thread) or whose
        memory passed --max-memory."""
        lease_limit = self.broker.lease_limit
        for handle in self.workers.values():
            if handle.killed_for:
                continue
            reason = handle.overrun(lease_limit, self.spec.max_memory)
            if reason:
                handle.killed_for = reason
                logger.error("Killing worker %s: %s", handle.worker_id, reason)
                handle.signal(signal.SIGKILL)

    # ---- report ---------------------------------------------------------------------------

    def report(self) -> PoolReport:
        """What the next heartbeat publishes (the broker adds the clock skew)."""
        return PoolReport(
            host=self.host,
            pid=self.pid,
            started_at=datetime.fromtimestamp(self.started_wall, tz=UTC),
            queues=list(self.spec.queues),
            processes=self.processes,
            threads=self.spec.threads,
            restarts=self.restarts,
            crashes=self.crashes,
            rss_bytes=rss_bytes(self.pid),
            stopping=self.stopping_since is not None,
            quiet=self.quiet,
            workers=[handle.report() for handle in self.workers.values()],
        )

    def _workers_spin(self) -> bool:
        """Whether a worker started now may busy-wait for replies: only while the pool
        leaves a core free (for Redis and the other tasks)."""
        return self.processes < self.cores

    def _worker_ids(self) -> list[str]:
        return [h.worker_id for h in self.workers.values()]

    # ---- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.signals.install()
        c = self.spec
        logger.info(
            "Pool %s started: backend %r, queues %s, %d process(es) x %d thread(s)%s%s; "
            "%d usable core(s): workers %s%s",
            self.pool_id,
            c.alias,
            ",".join(c.queues),
            c.processes,
            c.threads,
            f", recycle after {c.max_tasks}+{c.max_tasks_jitter} tasks" if c.max_tasks else "",
            ", exit when empty" if c.exit_empty else "",
            self.cores,
            "busy-wait for replies (reply_spin)"
            if self._workers_spin() and self.backend.config.reply_spin
            else "block on replies",
            f", at nice +{c.nice}" if c.nice else "",
        )
        connections.close_all()  # no database socket may be shared across a fork
        try:
            self.spawn_missing()
            self.broker.tick(self.report(), self._worker_ids(), force=True)
            while True:
                self.signals.sleep(self.broker.next_due())
                self._handle_signals()
                self.reap()
                if self.stopping_since is not None:
                    if not self.workers:
                        break
                    if time.monotonic() - self.stopping_since > c.graceful_timeout:
                        self.stop_now(f"graceful timeout ({c.graceful_timeout:g}s) passed")
                elif c.exit_empty and not self.workers and self.empty_exits:
                    work = self.broker.work_available(c.queues)
                    if work == "none":
                        logger.info("Queues %s are empty: exiting", ",".join(c.queues))
                        break
                    if work == "now":
                        self.empty_exits = 0
                    # "later": tasks wait for a retry; the broker promotes them when due
                self.spawn_missing()
                self.watchdog()
                self.broker.tick(self.report(), self._worker_ids(), force=self._announce_workers)
                self._announce_workers = False
                for action in self.broker.take_requests():
                    remote.apply(self, action)
                    self._announce_workers = True  # the new state shows at the next turn
        except Exception:
            logger.exception("Pool %s: the master failed; stopping workers", self.pool_id)
            self.exit_code = 1
            self.stop_now("master failure")
            while self.workers:
                time.sleep(0.05)
                self.reap()
        self.broker.flush_resolutions()
        self.broker.remove(self._worker_ids())
        logger.info("Pool %s stopped", self.pool_id)
        return self.exit_code
