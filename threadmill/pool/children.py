"""The master's view of its worker processes: fork one, describe how one ended, watch one.

Each worker runs in its own process group, so that when it ends the master can kill the
group and leave no orphan behind (a task that started `sleep 1000` and ignored SIGTERM).
The watchdog reads the memory a worker shares with the master (its `Scoreboard`), never asks the
worker: a task holding the GIL cannot hide from it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from threadmill.backends.pool_records import WorkerReport

from .scoreboard import Scoreboard
from .worker import EXIT_BOOT_ERROR, EXIT_CRASH, Worker, WorkerSpec

logger = logging.getLogger("threadmill")


@dataclass
class WorkerHandle:
    pid: int
    worker_id: str
    scoreboard: Scoreboard
    started_wall: float
    retiring: bool = False  # asked to stop (TTOU, HUP): do not replace
    killed_for: str = ""  # why the master killed it, if it did

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL whatever is left in the worker's process group (its tasks' children)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def report(self) -> WorkerReport:
        """What the heartbeat publishes about this worker."""
        processed, failed = self.scoreboard.counters()
        return WorkerReport(
            worker_id=self.worker_id,
            pid=self.pid,
            started_at=datetime.fromtimestamp(self.started_wall, tz=UTC),
            threads=self.scoreboard.threads_now(),
            processed=processed,
            failed=failed,
            rss_bytes=rss_bytes(self.pid),
        )

    def overrun(self, lease_limit: float, memory_limit: int | None) -> str:
        """Why this worker must be killed now ('' if it need not)."""
        now = time.time()
        for thread in self.scoreboard.threads_now():
            ran = now - thread.since.timestamp() if thread.since else 0.0
            if ran > lease_limit:
                return f"task {thread.task_id} ran {ran:.0f}s, past lease_ttl"
        if memory_limit is not None:
            rss = rss_bytes(self.pid)
            if rss > memory_limit:
                return (
                    f"memory limit exceeded: RSS {rss // 2**20} MiB > "
                    f"{memory_limit // 2**20} MiB (--max-memory)"
                )
        return ""


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may keep busy: its affinity mask (taskset, a container's cpuset),
    capped by its cgroup's CPU quota (a container's CPU limit, cgroup v2 `cpu.max`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, max(1, int(limit)))
    return cores


def cgroup_cpu_limit(cgroup_root: Path, relative: str | None = None) -> float | None:
    """CPUs' worth of time the cgroup v2 quotas of this process allow (the tightest of its
    own cgroup, `relative` to the root, read from /proc/self/cgroup by default, and every
    cgroup above it: a container's limit, a pod's, a systemd slice's), or None (no quota,
    no cgroup v2)."""
    if relative is None:
        try:
            relative = next(
                line.split("::", 1)[1].strip()
                for line in Path("/proc/self/cgroup").read_text().splitlines()
                if line.startswith("0::")
            )
        except (OSError, StopIteration):
            relative = "/"
    directory = cgroup_root / relative.strip("/")
    limits = []
    for level in (directory, *directory.parents):  # up to cgroup_root, included
        limits.append(_quota(level / "cpu.max"))
        if level == cgroup_root:
            break
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _quota(path: Path) -> float | None:
    """A cgroup v2 `cpu.max` ("QUOTA PERIOD" or "max PERIOD") in CPUs, or None."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def hostname() -> str:
    return os.environ.get("THREADMILL_HOSTNAME") or socket.gethostname()


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def describe_exit(status: int) -> tuple[str, int | None]:
    """('killed by signal SIGKILL' / 'exited with code 3', exit code or None)."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"killed by signal {name}", None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return f"exited with code {code}", code


def fork_worker(
    spec: WorkerSpec, scoreboard: Scoreboard, handled: Sequence[int], close_fds: list[int]
) -> int:
    """Fork a worker process; returns its pid in the master, never returns in the child."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, [*handled, signal.SIGCHLD])
    pid = os.fork()
    if pid == 0:
        _become_worker(spec, scoreboard, handled, close_fds, previous)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    with contextlib.suppress(OSError):  # also done in the child; whichever runs first
        os.setpgid(pid, pid)
    return pid


def _become_worker(
    spec: WorkerSpec,
    scoreboard: Scoreboard,
    handled: Sequence[int],
    close_fds: list[int],
    mask: set[int | signal.Signals],
) -> None:
    code = EXIT_CRASH
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        for fd in close_fds:
            os.close(fd)
        for sig in [*handled, signal.SIGCHLD]:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if spec.nice:
            # Before any thread starts: on Linux the priority is per thread, and inherited.
            os.nice(spec.nice)
        code = EXIT_BOOT_ERROR
        worker = Worker(spec, scoreboard)
        code = EXIT_CRASH
        code = worker.run()
    except BaseException:
        logger.exception("Worker %s failed", spec.worker_id)
    finally:
        logging.shutdown()
        os._exit(code)
