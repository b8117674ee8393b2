"""Tasks the benchmark enqueues."""

import time

from django.tasks import task, task_backends


@task
def noop():
    return None


@task
def stamp():
    """Push the wall-clock start time to a list the benchmark blocks on (latency)."""
    task_backends["default"].store.client.rpush("bench:started", repr(time.time()))


# ---- bench/task_options.py: the same no-ops with task options --------------------------

from datetime import timedelta  # noqa: E402

from threadmill import Backoff  # noqa: E402


@task(retry=Backoff(max_attempts=5, base=timedelta(seconds=1)), timeout=timedelta(minutes=5))
def noop_with_options():
    return None


@task(retry=Backoff(max_attempts=5, base=timedelta(seconds=1)), timeout=timedelta(minutes=5))
def stamp_with_options():
    task_backends["default"].store.client.rpush("bench:started", repr(time.time()))


@task(unique=True)
def noop_unique(n):
    return None
