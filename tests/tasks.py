"""Tasks the test suite enqueues (module-level, as django.tasks requires)."""

import asyncio
import ctypes
import os
import time

from django.tasks import task


@task
def noop():
    return None


@task
def add(a, b):
    return a + b


@task(priority=10, queue_name="high")
def urgent(x):
    return x


@task
def fail(message="boom"):
    raise ValueError(message)


@task
async def async_add(a, b):
    await asyncio.sleep(0)
    return a + b


@task(takes_context=True)
def with_context(context, x):
    return {"attempt": context.attempt, "id": context.task_result.id, "x": x}


@task
def returns_garbage():
    return object()


@task
def returns_huge(size):
    return "x" * size


@task
def nap(seconds, marker=None):
    time.sleep(seconds)
    return marker


@task
def echo(value):
    return value


@task
def exit_hard(code=3):
    os._exit(code)


@task
def segfault():
    ctypes.string_at(0)


@task
def spin_forever():
    while True:
        pass


@task
def record(path, value):
    """Append value to a file (the side channel of pool tests)."""
    with open(path, "a") as f:
        f.write(f"{value} {os.getpid()}\n")
    return value


@task(takes_context=True)
def ledger_nap(context, path, seconds=0.0):
    """Record this execution in an append-only ledger file (a side channel no fault touches),
    then sleep. One write() of a short line with O_APPEND is atomic."""
    line = f"{context.task_result.id} {context.attempt} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    if seconds:
        time.sleep(seconds)
    return None


@task
def hog(chunk_mb=20):
    """Allocate memory until something stops it."""
    chunks = []
    while True:
        chunks.append(bytearray(chunk_mb * 2**20))
        time.sleep(0.01)


@task
def stubborn_child(seconds=1000):
    """Start a child process that ignores SIGTERM, and leave it running."""
    import subprocess

    subprocess.Popen(["sh", "-c", f"trap '' TERM; exec sleep {seconds}"])
    return "spawned"


@task
def pause(seconds):
    """Like nap, but waits on an Event: time.sleep fails under libfaketime with an unfaked
    monotonic clock (the clock-skew test runs pools under faketime)."""
    import threading

    threading.Event().wait(seconds)


@task
def spins_for_replies():
    """Whether the worker process running it busy-waits for its replies (reply_spin)."""
    from threadmill.backends import spin

    return spin.allowed()


@task
def reports_niceness():
    """The CPU priority (nice value) of the thread running it."""
    return os.nice(0)


#: Database connection checks seen at a task's start (tests/test_runner_connections.py).
checks_at_start: list[int] = []


@task
def note_connection_checks():
    from tests.test_runner_connections import FakeConnection

    checks_at_start.append(FakeConnection.checks)
