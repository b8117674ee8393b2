"""`ThreadmillTask`: Django's `Task` with Threadmill's task controls, and their validation.

Threadmill backends set `task_class = ThreadmillTask` (Django 6.1's extension point), so
`@task(...)` of a Threadmill alias accepts four more keywords (`.using()` changes all but
`retry`, which the worker reads from the task's definition):

* `retry`: a `Backoff`, a callable `(context, exception) -> delay | None`, or its dotted
  path (see `threadmill.retry`); None: the alias's `retry` option; False: never retry;
* `timeout`: the longest one attempt may run (timedelta or seconds); None: the alias's
  `timeout` option (itself None: only `lease_ttl`, the alias-wide ceiling);
* `unique`: True (one task per path and arguments) or a callable `(*args, **kwargs) -> str`
  building the key: while an equal task is READY, deferred or RUNNING, `enqueue()` returns
  it instead of creating another;
* `expires`: a task that could not start within this long after it became due is FAILED
  with `Expired` instead of running.

An unknown keyword still fails (the dataclass refuses it); a bad value is an `InvalidTask`
raised when the task is decorated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.tasks import Task
from django.tasks.exceptions import InvalidTask

from .retry import RetryCallable, resolve_retry

_UNSET: Any = object()


def seconds_of(value: timedelta | float | None, what: str) -> float | None:
    """A duration as seconds (None stays None); raises InvalidTask for anything else."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidTask(f"{what} must be a timedelta or a number of seconds, got {value!r}.")
    if seconds <= 0:
        raise InvalidTask(f"{what} must be positive, got {value!r}.")
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadmillTask(Task):
    """A task of a Threadmill backend: Django's Task plus retry, timeout, unique, expires."""

    retry: Any = None
    timeout: timedelta | float | None = None
    unique: bool | Callable[..., str] = False
    expires: timedelta | float | None = None

    def using(
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: Any = None,
        backend: str | None = None,
        timeout: Any = _UNSET,
        unique: Any = _UNSET,
        expires: Any = _UNSET,
    ) -> ThreadmillTask:
        """Django's `using()`, plus timeout, unique and expires (None: the alias's
        default). Not `retry`: the worker reads the retry policy from the task's definition
        (a policy is code, not data stored with the task), so an override here would be
        silently ignored; define a second task for a different policy."""
        task: Task = Task.using(
            self, priority=priority, queue_name=queue_name, run_after=run_after, backend=backend
        )
        changes = {
            name: value
            for name, value in (
                ("timeout", timeout),
                ("unique", unique),
                ("expires", expires),
            )
            if value is not _UNSET
        }
        return replace(task, **changes) if changes else task  # type: ignore[return-value]


def validate_controls(task: ThreadmillTask, lease_ttl: float) -> None:
    """Raise InvalidTask naming the task and the keyword when a control is unusable."""
    where = f"Task {task.module_path}"
    try:
        resolve_retry(task.retry, where)
    except (ImportError, TypeError) as exc:
        raise InvalidTask(str(exc)) from exc
    timeout = seconds_of(task.timeout, f"{where}: timeout")
    if timeout is not None and timeout > lease_ttl:
        raise InvalidTask(
            f"{where}: timeout ({timeout:g}s) is longer than the alias's lease_ttl "
            f"({lease_ttl:g}s), the ceiling of every attempt; raise lease_ttl in OPTIONS or "
            "shorten the timeout."
        )
    seconds_of(task.expires, f"{where}: expires")
    if not (isinstance(task.unique, bool) or callable(task.unique)):
        raise InvalidTask(
            f"{where}: unique must be True, False or a callable (*args, **kwargs) -> str, "
            f"got {task.unique!r}."
        )


def task_retry(task: Task, default: RetryCallable | None) -> RetryCallable | None:
    """The retry policy that applies to task: its own, else the alias's default."""
    value = getattr(task, "retry", None)
    if value is False:
        return None
    if value is None:
        return default
    return resolve_retry(value, f"Task {task.module_path}")


def task_timeout(task: Task, default: float | None) -> float | None:
    """Seconds one attempt of task may run (None: no limit but lease_ttl)."""
    own = seconds_of(getattr(task, "timeout", None), "timeout")
    return own if own is not None else default


def unique_digest(task: Task, args: list, kwargs: dict, args_json: str, kwargs_json: str) -> str:
    """The unique claim of one call of task ('' when the task is not unique): a digest of
    its path and either its arguments (unique=True) or the key its callable builds."""
    unique = getattr(task, "unique", False)
    if unique is False:
        return ""
    if unique is True:
        material = f"{task.module_path}\0{args_json}\0{kwargs_json}"
    else:
        key = unique(*args, **kwargs)
        if not isinstance(key, str):
            raise InvalidTask(
                f"Task {task.module_path}: its unique callable must return a str, got {key!r}."
            )
        material = f"{task.module_path}\0key\0{key}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]
