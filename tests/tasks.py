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


def append_line(path, text):
    """Append one line to an append-only ledger file: one write() of a short line with
    O_APPEND is atomic, so concurrent workers never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{text}\n".encode())
    finally:
        os.close(fd)


@task(takes_context=True)
def ledger_nap(context, path, seconds=0.0):
    """Record this execution in an append-only ledger file (a side channel no fault touches),
    then sleep."""
    append_line(path, f"{context.task_result.id} {context.attempt} {os.getpid()}")
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


# ---- task controls (tests/test_task_controls.py, tests/test_pool_controls.py) ------------

from datetime import timedelta  # noqa: E402

from threadmill import Backoff, current_task  # noqa: E402

FAST_BACKOFF = Backoff(max_attempts=5, base=timedelta(seconds=0.3), factor=2, jitter=False)


@task(takes_context=True, retry=FAST_BACKOFF)
def flaky(context, succeed_on=3):
    """Raises ConnectionError until attempt succeed_on, naming when each attempt started."""
    started = context.task_result.last_attempted_at.timestamp()
    if context.attempt < succeed_on:
        raise ConnectionError(f"attempt {context.attempt} started {started}")
    return context.attempt


@task(retry=Backoff(max_attempts=5, base=0.1, on=(ConnectionError,)))
def fails_unlisted():
    raise ValueError("not a connection problem")


@task(timeout=timedelta(seconds=1))
def sleeps_past_limit(seconds=30):
    time.sleep(seconds)


@task(timeout=timedelta(seconds=1))
async def async_sleeps_past_limit(seconds=30):
    await asyncio.sleep(seconds)


@task
def cooperative(path, seconds=30):
    """Marks a file when it starts, then stops when a cancellation is requested."""
    with open(path, "a") as f:
        f.write("started\n")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current_task().raise_if_cancelled()
        time.sleep(0.02)
    return "ran to the end"


@task(timeout=timedelta(seconds=1))
def extends_itself(seconds=2.0):
    """Runs past its 1 s limit, extending it as it goes (by 2 s every 0.2 s: a worker
    stalled for most of a second on a loaded machine still extends it in time)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        current_task().extend(timedelta(seconds=2))
        time.sleep(0.2)
    return "extended"


@task(unique=True)
def unique_nap(seconds, marker=None):
    time.sleep(seconds)
    return marker


@task(unique=lambda account_id, **_: f"account-{account_id}")
def sync_account(account_id, note=""):
    return account_id


@task(expires=timedelta(seconds=0.2))
def expiring():
    return "ran"


@task
def interrupts():
    raise KeyboardInterrupt


@task(takes_context=True, retry=Backoff(max_attempts=2, base=1.0, jitter=False))
def fails_once(context):
    if context.attempt == 1:
        raise ConnectionError("first attempt fails")
    return "second attempt"


def _ledger_line(path, context):
    append_line(path, f"{context.task_result.id} {context.attempt} {os.getpid()}")


@task(takes_context=True, retry=Backoff(max_attempts=10, base=0.05, jitter=False))
def ledger_flaky(context, path, seconds=0.0):
    """Ledger entry, a nap, and a ConnectionError on the first attempt (then retried)."""
    _ledger_line(path, context)
    time.sleep(seconds)
    if context.attempt == 1:
        raise ConnectionError("first attempt fails")


@task(takes_context=True, unique=lambda path, key, seconds=0.0: key)
def ledger_unique(context, path, key, seconds=0.0):
    _ledger_line(path, context)
    time.sleep(seconds)
    return key


@task
def ledger_slot(path):
    """Record the schedule slot this run is for (periodic tasks, tests/test_schedules.py)."""
    slot = current_task().slot
    append_line(path, f"{slot.timestamp() if slot else '-'} {os.getpid()}")


@task(takes_context=True)
def ledger_fail(context, path, tag):
    """Ledger entry (id and tag), then a failure: a bulk requeue that acted twice on one
    task would show as a second line."""
    append_line(path, f"{context.task_result.id} {tag}")
    raise RuntimeError(f"{tag} fails again")
