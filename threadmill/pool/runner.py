"""Runs one leased task the way Django's ImmediateBackend does, and never talks to Redis.

Around the call: Django's database connection hygiene (`close_old_connections` before and
after, as for a request), the `task_started` signal, a `TaskContext` for tasks that take
one, the attempt's `RunningTask` made current (`threadmill.current_task()`), async functions
run to completion in an event loop where the worker can cancel them (time limit,
terminate), and any exception (even `SystemExit` or `KeyboardInterrupt`) turned into a
recorded error with its full traceback. A task that cannot even be loaded (its module was
removed, its record is unreadable) fails with `TaskNotFound` / `CorruptTaskData` and its
arguments stay in Redis for a requeue after the fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connections
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started

from threadmill.backends.records import Lease
from threadmill.exceptions import CorruptTaskData
from threadmill.running import RunningTask
from threadmill.task_codec import encode_result, error_from_json, error_json, resolve_task

logger = logging.getLogger("threadmill")

# Per task thread: whether a database connection stayed open after its last task.
_held = threading.local()


def _close_old_connections() -> None:
    """Django's close_old_connections, noting whether a connection stayed open (persistent
    connections, CONN_MAX_AGE > 0): only then can one go stale while the thread idles."""
    still_open = False
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
        still_open = still_open or conn.connection is not None
    _held.connection_open = still_open


@dataclass(slots=True)
class Outcome:
    """What running a lease produced, ready to be acknowledged."""

    succeeded: bool
    value_json: str  # return value JSON, or the TaskError JSON when failed
    result: TaskResult | None  # None when the task could not be loaded
    error_summary: str = ""
    exception: BaseException | None = None  # what the attempt raised, for the retry policy


def _load(lease: Lease, alias: str) -> tuple[TaskResult, list, dict]:
    task = resolve_task(lease.path, alias, lease.priority, lease.queue, lease.run_after)
    try:
        args = json.loads(lease.args_json)
        kwargs = json.loads(lease.kwargs_json)
        worker_ids = json.loads(lease.worker_ids_json)
        errors = [TaskError(**e) for e in json.loads(lease.errors_json)]
    except (TypeError, ValueError, KeyError) as exc:
        raise CorruptTaskData(
            f"Task {lease.task_id} has unreadable data in Redis ({exc}); its raw fields are "
            "kept in the record."
        ) from exc
    result: TaskResult[Any, Any] = TaskResult(
        task=task,
        id=lease.task_id,
        status=TaskResultStatus.RUNNING,
        enqueued_at=lease.enqueued_at,
        started_at=lease.started_at,
        finished_at=None,
        last_attempted_at=lease.acquired_at,
        args=args,
        kwargs=kwargs,
        backend=alias,
        errors=errors,
        worker_ids=worker_ids,
    )
    return result, args, kwargs


#: Whether a task function is async, per function (inspect costs ~1 µs per call).
_is_async: dict[Callable[..., Any], bool] = {}


def _callable(task: Task, running: RunningTask) -> Callable[..., Any]:
    """task.call, except that an async task runs as an asyncio task the worker can cancel."""
    is_async = _is_async.get(task.func)
    if is_async is None:
        if len(_is_async) > 1024:
            _is_async.clear()
        is_async = _is_async[task.func] = iscoroutinefunction(task.func)
    if not is_async:
        return task.call
    func = task.func

    async def cancellable(*args: Any, **kwargs: Any) -> Any:
        current = asyncio.current_task()
        assert current is not None
        running.attach(asyncio.get_running_loop(), current)
        return await func(*args, **kwargs)

    return async_to_sync(cancellable)


def run_lease(
    lease: Lease,
    alias: str,
    sender: type,
    max_result_size: int,
    *,
    after_idle: bool = True,
    running: RunningTask | None = None,
) -> Outcome:
    """Run the leased task; never raises.

    Database connections are checked after every task, and before one only when the thread
    was idle since (`after_idle`) with a connection left open: back to back, the two checks
    would be the same, and with every connection closed there is nothing to check. (Right
    after idling, the check costs ~0.1 ms of the task's start: nothing of it is cached.)"""
    if after_idle and getattr(_held, "connection_open", True):
        _close_old_connections()
    try:
        try:
            result, args, kwargs = _load(lease, alias)
        except Exception as exc:
            return Outcome(False, error_json(exc), None, f"{type(exc).__name__}: {exc}")
        task = result.task
        running = running or RunningTask(lease.task_id, lease.attempt, None)
        running.task_result = result
        activation = running.activate()
        task_started.send(sender=sender, task_result=result)
        try:
            if running.stopped_with is not None:  # cancelled before it started: never runs
                raise running.stopped_with
            call = _callable(task, running)
            if task.takes_context:
                value = call(TaskContext(task_result=result), *args, **kwargs)
            else:
                value = call(*args, **kwargs)
            normalized, value_json = encode_result(value, max_result_size)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and running.stopped_with is not None:
                exc = running.stopped_with  # the worker cancelled it: say why
            encoded = error_json(exc)
            result.errors.append(error_from_json(encoded))
            return Outcome(False, encoded, result, f"{type(exc).__name__}: {exc}", exc)
        finally:
            running.deactivate(activation)
        object.__setattr__(result, "_return_value", normalized)
        return Outcome(True, value_json, result)
    finally:
        _close_old_connections()


def announce_finished(outcome: Outcome, sender: type, finished_at: datetime | None) -> None:
    """Send `task_finished` once the outcome is stored (receivers can read it back)."""
    result = outcome.result
    if result is None:
        return
    object.__setattr__(result, "finished_at", finished_at)
    status = TaskResultStatus.SUCCESSFUL if outcome.succeeded else TaskResultStatus.FAILED
    object.__setattr__(result, "status", status)
    try:
        task_finished.send(sender=sender, task_result=result)
    except Exception:  # a broken receiver must not take the worker thread down
        logger.exception("A task_finished receiver raised for task %s", result.id)
