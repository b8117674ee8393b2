"""Conversions between Django's task objects and Threadmill's Redis records.

Redis holds text: JSON for args, kwargs, return values and error lists, milliseconds of
Redis time for timestamps. Writing is strict (non-JSON arguments are refused before anything
is written); reading is tolerant: a field that cannot be decoded is reported in
`TaskRecord.problems` (or raises `CorruptTaskData` where a TaskResult must be built), never
an unhandled exception in a worker or an admin page.
"""

from __future__ import annotations

import json
import traceback as tb
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.utils import timezone
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from threadmill.exceptions import (
    CorruptTaskData,
    InvalidTaskArguments,
    ResultNotSerializable,
    ResultTooLarge,
    TaskNotFound,
)

from .base import ErrorRecord, Lease, TaskRecord, TaskState

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def to_ms(value: datetime) -> int:
    """An aware (or, without USE_TZ, naive local) datetime as epoch milliseconds."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return int(value.timestamp() * 1000)


def from_ms(value: Any, use_tz: bool | None = None) -> datetime | None:
    """Epoch milliseconds (int or text, '' for none) as a datetime in Django's convention
    (`use_tz`: settings.USE_TZ, when the caller already read it)."""
    if value is None or value == "" or value is False:
        return None
    moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if not (settings.USE_TZ if use_tz is None else use_tz):
        return timezone.make_naive(moment, timezone.get_default_timezone())
    return moment


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


def lease_from_reply(reply: str) -> Lease:
    """Decode the acquire reply, one JSON array `[id, token, now, RUN_FIELDS...]`."""
    (
        task_id,
        token,
        now,
        path,
        queue,
        priority,
        takes_context,
        args,
        kwargs,
        run_after,
        enqueued_at,
        started_at,
        worker_ids,
        errors,
        attempts,
    ) = json.loads(reply)
    use_tz = settings.USE_TZ  # read once: a lazy setting costs a call per read
    try:
        acquired_at = from_ms(now, use_tz)
        return Lease(
            task_id=task_id,
            token=token,
            acquired_at=acquired_at,
            path=path,
            queue=queue,
            priority=int(priority or 0),
            takes_context=str(takes_context) == "1",
            args_json=args or "[]",
            kwargs_json=kwargs or "{}",
            run_after=from_ms(run_after, use_tz),
            enqueued_at=from_ms(enqueued_at, use_tz),
            # A first attempt starts when it is leased: the same moment, decoded once.
            started_at=acquired_at if started_at == now else from_ms(started_at, use_tz),
            worker_ids_json=worker_ids or "[]",
            errors_json=errors or "[]",
            attempt=int(attempts or 1),
        )
    except (TypeError, ValueError) as exc:
        raise CorruptTaskData(f"Task {task_id} has an unreadable field: {exc}") from exc


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


def _loads(text: Any, default: Any, name: str, problems: list[str]) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        problems.append(f"{name} is not valid JSON")
        return text


def _int(text: Any, name: str, problems: list[str]) -> int:
    try:
        return int(text or 0)
    except (TypeError, ValueError):
        problems.append(f"{name} is not a number")
        return 0


def _time(text: Any, name: str, problems: list[str]) -> datetime | None:
    try:
        return from_ms(text)
    except (TypeError, ValueError, OverflowError, OSError):
        problems.append(f"{name} is not a timestamp")
        return None


def record_from_hash(task_id: str, fields: dict[str, str]) -> TaskRecord:
    """A TaskRecord from a record hash; never raises, lists what it could not read."""
    problems: list[str] = []
    status = fields.get("status", "")
    try:
        state: TaskState | None = TaskState(status)
    except ValueError:
        state = None
        problems.append(f"status {status!r} is unknown")
    errors = []
    raw_errors = _loads(fields.get("errors"), [], "errors", problems)
    for item in raw_errors if isinstance(raw_errors, list) else []:
        if isinstance(item, dict):
            errors.append(
                ErrorRecord(
                    str(item.get("exception_class_path", "?")), str(item.get("traceback", ""))
                )
            )
    worker_ids = _loads(fields.get("worker_ids"), [], "worker_ids", problems)
    return TaskRecord(
        id=task_id,
        queue=fields.get("queue", ""),
        state=state,
        path=fields.get("path", ""),
        priority=_int(fields.get("priority"), "priority", problems),
        args=_loads(fields.get("args"), [], "args", problems),
        kwargs=_loads(fields.get("kwargs"), {}, "kwargs", problems),
        run_after=_time(fields.get("run_after"), "run_after", problems),
        enqueued_at=_time(fields.get("enqueued_at"), "enqueued_at", problems),
        ready_at=_time(fields.get("ready_at"), "ready_at", problems),
        started_at=_time(fields.get("started_at"), "started_at", problems),
        last_attempted_at=_time(fields.get("last_attempted_at"), "last_attempted_at", problems),
        finished_at=_time(fields.get("finished_at"), "finished_at", problems),
        attempts=_int(fields.get("attempts"), "attempts", problems),
        worker_ids=worker_ids if isinstance(worker_ids, list) else [],
        errors=errors,
        result=_loads(fields.get("result"), None, "result", problems),
        worker=fields.get("worker", ""),
        lease_deadline=_time(fields.get("deadline"), "deadline", problems),
        raw=fields.get("raw", ""),
        problems=problems,
    )


def result_from_record(record: TaskRecord, alias: str) -> TaskResult:
    """The TaskResult Django's API returns; CorruptTaskData / TaskNotFound when impossible."""
    if record.state is None or record.problems or not record.path:
        reasons = "; ".join(record.problems) or "it has no task path"
        raise CorruptTaskData(
            f"Task {record.id} cannot be read back: {reasons}. Inspect or purge it in the "
            "admin (Threadmill > tasks)."
        )
    task = resolve_task(
        record.path, alias, record.priority, record.queue or "default", record.run_after
    )
    if record.state == TaskState.DEFERRED:
        status = TaskResultStatus.READY  # Django has no DEFERRED: a deferred task is ready
    else:
        status = TaskResultStatus(record.state.value)
    result = TaskResult(
        task=task,
        id=record.id,
        status=status,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        last_attempted_at=record.last_attempted_at,
        args=record.args,
        kwargs=record.kwargs,
        backend=alias,
        errors=[
            TaskError(exception_class_path=e.exception_class_path, traceback=e.traceback)
            for e in record.errors
        ],
        worker_ids=list(record.worker_ids),
    )
    if record.state == TaskState.SUCCESSFUL:
        object.__setattr__(result, "_return_value", record.result)
    return result
