"""Helpers of the search and bulk-job tests: failed tasks with a chosen exception class,
worker and arguments, made without a pool."""

from __future__ import annotations

import itertools
import json

from tests import tasks

_tokens = itertools.count()


def fail_with(
    backend,
    result=None,
    cls: str = "builtins.ValueError",
    worker: str = "w1",
    queue: str = "default",
) -> str:
    """Lease the next task of queue (it must be `result`'s, if given) and fail it with `cls`;
    returns its id."""
    lease = backend.acquire(worker, [queue], f"{worker}/s{next(_tokens)}")
    assert lease is not None
    assert result is None or lease.task_id == result.id
    value = json.dumps({"exception_class_path": cls, "traceback": f"{cls}: broken\nmore"})
    backend.acknowledge(lease, worker, succeeded=False, value_json=value)
    return lease.task_id


def make_failed(
    backend,
    n: int,
    cls: str = "builtins.ValueError",
    worker: str = "w1",
    arg: str = "x",
    task=None,
    queue: str = "default",
) -> list[str]:
    """n FAILED tasks (`task` defaults to tasks.echo(arg)) failing with cls on worker."""
    task = task or tasks.echo
    ids = []
    for _ in range(n):
        result = task.using(queue_name=queue).enqueue(arg)
        ids.append(fail_with(backend, result, cls, worker, queue))
    return ids
