"""The processes a run starts, as /proc shows them: a worker's family, its memory, whether
a process still runs; and `stop`, which ends a family for good before the next
measurement."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's session (the process group we started) and every descendant,
    then wait until none of them runs.

    What is measured is over by then, and Redis (and the SQLite file) are reset before the
    next measurement, so the stop need not be graceful: a graceful stop would only add its
    shutdown time (up to a second per worker) to the run. Descendants are killed one by one
    too because some leave the session (RQ's work horse calls setsid()), and the next
    measurement waits for all of them: a process that is still finishing a task would
    write into the flushed Redis. The family is stopped (SIGSTOP) before it is listed
    again and killed: a process forked after the first listing (an RQ worker starting its
    next work horse) is then still its parent's child, found by the second listing, where
    killing the parent first would orphan it out of reach."""

    def send(pids: list[int], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    family = [proc.pid, *descendants(proc.pid)]
    send(family, signal.SIGSTOP)
    family = list(dict.fromkeys([*family, *descendants(proc.pid)]))
    send(family, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.01)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stat_fields(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after `pid (comm)`: state, ppid, ... (None: no such process).
    comm may contain spaces, so the split is after the last ')'."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def parents() -> dict[int, int]:
    """pid -> ppid of every process, from one pass over /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(entry.name)) is not None:
            found[int(entry.name)] = int(fields[1])
    return found


def children(pid: int) -> list[int]:
    return [child for child, parent in parents().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    by_parent: dict[int, list[int]] = {}
    for child, parent in parents().items():
        by_parent.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        kids = by_parent.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def running(pid: int) -> bool:
    """pid exists and is not a zombie (a killed orphan may wait a while to be reaped)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def memory(pid: int) -> dict:
    """RSS of the master and of its largest child (the worker), in MiB."""
    master = rss_mib(pid)
    kids = [(rss_mib(c), c) for c in children(pid)]
    kids = [(r, c) for r, c in kids if r is not None]
    worker = max(kids)[0] if kids else None
    return {"master": master, "worker": worker, "children": len(kids)}


def cpu_busy(seconds: float) -> float:
    """The share of the machine's CPU time that was busy over the next `seconds`."""

    def times() -> list[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]

    before = times()
    time.sleep(seconds)
    delta = [b - a for a, b in zip(before, times(), strict=True)]
    idle = delta[3] + delta[4]  # idle, iowait
    return 1 - idle / max(sum(delta), 1)
