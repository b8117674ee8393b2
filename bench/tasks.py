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
