"""How Threadmill's values look in Redis: task records, lease replies, pool reports, times.

Redis holds text: JSON for args, kwargs, return values and error lists, milliseconds of
Redis time for timestamps. Reading is tolerant: a field that cannot be decoded is reported in
`TaskRecord.problems` (or raises `CorruptTaskData` where a TaskResult must be built), never
an unhandled exception in a worker or an admin page. (The JSON of arguments, results and
errors, which is the same for any backend, is `threadmill.task_codec`.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.tasks import TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.utils import timezone

from threadmill.exceptions import CorruptTaskData
from threadmill.task_codec import resolve_task

from .pool_records import PoolReport, ThreadReport, WorkerReport
from .records import ErrorRecord, Lease, QueueStats, TaskRecord, TaskState


def to_ms(value: datetime) -> int:
    """An aware (or, without USE_TZ, naive local) datetime as epoch milliseconds."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return int(value.timestamp() * 1000)


def at_ms(value: Any, use_tz: bool | None = None) -> datetime:
    """Like from_ms, for a time that must be there (ValueError if it is not)."""
    moment = from_ms(value, use_tz)
    if moment is None:
        raise ValueError("a required time is missing")
    return moment


def from_ms(value: Any, use_tz: bool | None = None) -> datetime | None:
    """Epoch milliseconds (int or text, '' for none) as a datetime in Django's convention
    (`use_tz`: settings.USE_TZ, when the caller already read it)."""
    if value is None or value == "" or value is False:
        return None
    moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if not (settings.USE_TZ if use_tz is None else use_tz):
        return timezone.make_naive(moment, timezone.get_default_timezone())
    return moment


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
        timeout_ms,
    ) = json.loads(reply)
    use_tz = settings.USE_TZ  # read once: a lazy setting costs a call per read
    try:
        acquired_at = at_ms(now, use_tz)
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
            timeout=int(timeout_ms) / 1000 if timeout_ms else None,
        )
    except (TypeError, ValueError) as exc:
        raise CorruptTaskData(f"Task {task_id} has an unreadable field: {exc}") from exc


def _loads(text: Any, default: Any, name: str, problems: list[str]) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        problems.append(f"{name} is not valid JSON")
        return text


def _limit(text: Any, part: int, problems: list[str]) -> float | None:
    """Seconds of one part of a 'limits' field ('<timeout_ms>:<expires_ms>:<due_at_ms>')."""
    if not text:
        return None
    try:
        value = str(text).split(":")[part]
        return int(value) / 1000 if value else None
    except (IndexError, ValueError):
        problems.append("limits is not <timeout_ms>:<expires_ms>:<due_at_ms>")
        return None


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
        timeout=_limit(fields.get("limits"), 0, problems),
        expires=_limit(fields.get("limits"), 1, problems),
        unique_key=fields.get("unique", ""),
        cancel_requested_by=fields.get("cancel", ""),
        released=_int(fields.get("released"), "released", problems),
        schedule=fields.get("schedule", ""),
        slot=_time(fields.get("slot"), "slot", problems),
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
    result: TaskResult[Any, Any] = TaskResult(
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


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def report_to_json(report: PoolReport) -> str:
    """A pool's report as the heartbeat stores it (times in ms, 0 for none)."""
    return json.dumps(
        {
            "host": report.host,
            "pid": report.pid,
            "started_ms": _ms(report.started_at),
            "queues": report.queues,
            "processes": report.processes,
            "threads": report.threads,
            "restarts": report.restarts,
            "crashes": report.crashes,
            "skew_seconds": report.skew_seconds,
            "rss_bytes": report.rss_bytes,
            "stopping": report.stopping,
            "quiet": report.quiet,
            "workers": [
                {
                    "worker_id": w.worker_id,
                    "pid": w.pid,
                    "started_ms": _ms(w.started_at),
                    "processed": w.processed,
                    "failed": w.failed,
                    "rss_bytes": w.rss_bytes,
                    "threads": [
                        {
                            "index": t.index,
                            "task_id": t.task_id,
                            "task_path": t.task_path,
                            "since_ms": _ms(t.since),
                        }
                        for t in w.threads
                    ],
                }
                for w in report.workers
            ],
        }
    )


def report_from_json(text: str | None) -> PoolReport:
    """A stored report, tolerating missing or garbled fields (a pool of another version, a
    hand edit): what cannot be read is left at its default."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    workers = []
    for w in data.get("workers") or []:
        if not isinstance(w, dict):
            continue
        threads = [
            ThreadReport(
                index=_as_int(t.get("index", i)),
                task_id=str(t.get("task_id") or ""),
                task_path=str(t.get("task_path") or ""),
                since=from_ms(_as_int(t.get("since_ms")) or None),
            )
            for i, t in enumerate(w.get("threads") or [])
            if isinstance(t, dict)
        ]
        workers.append(
            WorkerReport(
                worker_id=str(w.get("worker_id", "?")),
                pid=_as_int(w.get("pid")),
                started_at=from_ms(_as_int(w.get("started_ms")) or None),
                threads=threads,
                processed=_as_int(w.get("processed")),
                failed=_as_int(w.get("failed")),
                rss_bytes=_as_int(w.get("rss_bytes")),
            )
        )
    try:
        skew = float(data.get("skew_seconds") or 0.0)
    except (TypeError, ValueError):
        skew = 0.0
    return PoolReport(
        host=str(data.get("host", "?")),
        pid=_as_int(data.get("pid")),
        started_at=from_ms(_as_int(data.get("started_ms")) or None),
        queues=[str(q) for q in data.get("queues") or []],
        processes=_as_int(data.get("processes")),
        threads=_as_int(data.get("threads")),
        restarts=_as_int(data.get("restarts")),
        crashes=_as_int(data.get("crashes")),
        skew_seconds=skew,
        rss_bytes=_as_int(data.get("rss_bytes")),
        stopping=bool(data.get("stopping", False)),
        quiet=bool(data.get("quiet", False)),
        workers=workers,
    )


def queue_stats_from_reply(names: Sequence[str], reply: list[Any]) -> list[QueueStats]:
    """Decode the queue_stats script's reply (see lua/queue_stats.lua)."""
    measured_at = at_ms(reply[0])
    stats = []
    for n, queue in enumerate(names):
        v = reply[1 + n * 15 : 16 + n * 15]
        stats.append(
            QueueStats(
                queue=queue,
                ready=v[0],
                deferred=v[1],
                running=v[2],
                successful=v[3],
                failed=v[4],
                oldest_ready_at=from_ms(v[5]),
                next_deferred_at=from_ms(v[6]),
                successful_last_minute=v[7],
                failed_last_minute=v[8],
                enqueued_total=int(v[9] or 0),
                successful_total=int(v[10] or 0),
                failed_total=int(v[11] or 0),
                retrying=v[12],
                retried_total=int(v[13] or 0),
                paused=bool(v[14]),
                measured_at=measured_at,
            )
        )
    return stats


def page_items_from_reply(reply: list[Any], queue: str, state: TaskState) -> list[TaskRecord]:
    """Decode the page script's reply `{total, next_offset, id, score, fields, ...}`."""
    items = []
    for i in range(2, len(reply), 3):
        task_id, flat = reply[i], reply[i + 2]
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        if fields:
            items.append(record_from_hash(task_id, fields))
            continue
        # An index entry whose record has gone (expired result not yet trimmed, or lost).
        ghost = record_from_hash(task_id, {"queue": queue, "status": state.value})
        items.append(replace(ghost, problems=["the task record is missing (expired or lost)"]))
    return items
