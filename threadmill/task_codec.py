"""JSON forms of what a task takes and gives, for any backend, and the Task a stored path names.

Writing is strict: arguments or a return value that are not JSON are refused with an error
that says what to pass instead (nothing is written). A task's error is its exception's class
path and full traceback, as Django's `TaskError` keeps it. `resolve_task` imports a task by
its dotted path (cached) and explains a task that was renamed or removed between deploys.
"""

from __future__ import annotations

import json
import traceback as tb
from functools import lru_cache
from typing import Any

from django.tasks import Task
from django.tasks.base import TaskError
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from threadmill.exceptions import (
    InvalidTaskArguments,
    ResultNotSerializable,
    ResultTooLarge,
    TaskNotFound,
)

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def encode_arguments(args: Any, kwargs: Any) -> tuple[str, str]:
    """JSON of args and kwargs, or InvalidTaskArguments saying what is not JSON."""
    try:
        # No arguments is common (and cheap to spot): skip the encoder for it.
        return (_dumps(list(args)) if args else "[]"), (_dumps(dict(kwargs)) if kwargs else "{}")
    except (TypeError, ValueError) as exc:
        raise InvalidTaskArguments(
            f"Task arguments must be JSON-serializable (Django's rule for task arguments): "
            f"{exc}. Pass ids, strings, numbers, lists or dicts instead, e.g. a model's pk "
            "rather than the instance. Nothing was enqueued."
        ) from exc


def encode_result(value: Any, max_size: int) -> tuple[Any, str]:
    """A return value normalized (as Django does) and as JSON; ResultNotSerializable or
    ResultTooLarge when it cannot be stored."""
    if value is None:
        return None, "null"
    try:
        normalized = normalize_json(value)
        encoded = _dumps(normalized)
    except (TypeError, ValueError) as exc:
        raise ResultNotSerializable(
            f"The task returned a value that cannot be stored as JSON: {exc}. "
            "Return JSON types (dict, list, str, int, float, bool, None)."
        ) from exc
    if len(encoded) > max_size:
        raise ResultTooLarge(
            f"The task returned {len(encoded)} bytes of JSON, more than max_result_size "
            f"({max_size}). Store large outputs elsewhere and return a reference."
        )
    return normalized, encoded


def error_json(exc: BaseException) -> str:
    """A TaskError (class path and full traceback) as stored in a record's error list."""
    kind = type(exc)
    return _dumps(
        {
            "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
            "traceback": "".join(tb.format_exception(exc)),
        }
    )


def error_from_json(encoded: str) -> TaskError:
    data = json.loads(encoded)
    return TaskError(exception_class_path=data["exception_class_path"], traceback=data["traceback"])


@lru_cache(maxsize=1024)
def resolve_task(path: str, alias: str, priority: int, queue: str, run_after: Any) -> Task:
    """The Task object for a stored path, configured as it was enqueued (cached)."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise TaskNotFound(
            f"Cannot import task {path!r}: {exc}. Was it renamed or removed in a deploy? "
            "The task's arguments are kept; restore the code and requeue it."
        ) from exc
    if not isinstance(found, Task):
        raise TaskNotFound(
            f"{path!r} is a {type(found).__name__}, not a Task: decorate it with "
            "@django.tasks.task."
        )
    return found.using(priority=priority, queue_name=queue, run_after=run_after, backend=alias)
