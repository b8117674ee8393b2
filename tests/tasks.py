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
