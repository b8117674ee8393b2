"""The producer side of a Redis backend: what `enqueue()` and `enqueue_many()` do.

Validate the task once, normalize and encode every call's arguments before anything is
written, compute each call's unique claim, write the tasks in one script call per 500 (one
pipelined round trip), build Django's TaskResults and send `task_enqueued` after the write.
With `enqueue_on_commit` inside `transaction.atomic()`, the write waits for the commit
(`transaction.on_commit`) and never happens on rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.db import transaction
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils.json import normalize_json

from threadmill.options import BackendOptions
from threadmill.task import seconds_of, task_timeout, unique_digest
from threadmill.task_codec import encode_arguments

from .ids import new_task_id
from .redis_records import to_ms
from .script_values import NewTask
from .store import RedisStore

#: Tasks per script call in enqueue_many (bounded so no call blocks Redis for long).
ENQUEUE_CHUNK = 500
VALIDATED_TASKS_KEPT = 1024


class PreparedCall(NamedTuple):
    """One validated call of enqueue / enqueue_many: its new id, its arguments as Django's
    TaskResult keeps them (normalized to JSON types) and as JSON, its unique claim."""

    id: str
    args: list
    kwargs: dict
    args_json: str
    kwargs_json: str
    unique_digest: str


class Producer:
    """Enqueues for one backend alias (`sender`: the backend class, for the signal)."""

    def __init__(
        self,
        alias: str,
        store: RedisStore,
        config: BackendOptions,
        sender: type,
        validate: Callable[[Task], None],
        read_result: Callable[[str], TaskResult],
    ) -> None:
        self.alias = alias
        self.store = store
        self.scripts = store.scripts
        self.config = config
        self.sender = sender
        self.validate = validate
        self.read_result = read_result
        self._validated: set[Task] = set()

    def _validate_once(self, task: Task) -> None:
        """Django's validate_task, once per Task. A Task is immutable and what validation
        reads of this backend (its queues, what it supports) is fixed when it is created;
        a task with a run_after is validated every time (its check reads USE_TZ, and such
        tasks are usually made for one call). Validating runs `inspect` on the function:
        a tenth of a warm enqueue, more after the producer was idle."""
        if task in self._validated:
            return
        self.validate(task)
        if task.run_after is None:
            if len(self._validated) >= VALIDATED_TASKS_KEPT:
                self._validated.clear()
            self._validated.add(task)

    def _prepare(self, task: Task, calls: Iterable[tuple[Any, Any]]) -> list[PreparedCall]:
        """Validate and encode everything before the first write."""
        self._validate_once(task)
        prepared = []
        for args, kwargs in calls:
            try:  # what Django's TaskResult keeps of them
                args = cast(list, normalize_json(args)) if args else []
                kwargs = cast(dict, normalize_json(kwargs)) if kwargs else {}
            except (TypeError, ValueError):
                encode_arguments(args, kwargs)  # raises the explanatory error
                raise
            args_json, kwargs_json = encode_arguments(args, kwargs)
            digest = unique_digest(task, args, kwargs, args_json, kwargs_json)
            prepared.append(
                PreparedCall(new_task_id(), args, kwargs, args_json, kwargs_json, digest)
            )
        return prepared

    def new_task(self, task: Task, args: Any, kwargs: Any) -> NewTask:
        """One call of task validated and encoded, for a script that creates it itself (a
        schedule's slot)."""
        [call] = self._prepare(task, [(args, kwargs)])
        timeout_ms, expires_ms = self._limits_ms(task)
        return NewTask(
            call.id,
            task.module_path,
            task.priority,
            task.takes_context,
            None,
            call.args_json,
            call.kwargs_json,
            timeout_ms,
            expires_ms,
            call.unique_digest,
        )

    def _limits_ms(self, task: Task) -> tuple[int | None, int | None]:
        timeout = task_timeout(task, self.config.timeout)
        expires = seconds_of(getattr(task, "expires", None), "expires")
        return (
            None if timeout is None else round(timeout * 1000),
            None if expires is None else round(expires * 1000),
        )

    def _write(self, task: Task, prepared: list[PreparedCall]) -> tuple[datetime | None, dict]:
        """Write the tasks; returns their enqueued_at and, for the calls that an equal live
        unique task absorbed, position -> that task's id."""
        run_after = None if task.run_after is None else to_ms(task.run_after)
        timeout_ms, expires_ms = self._limits_ms(task)
        calls = []
        for start in range(0, len(prepared), ENQUEUE_CHUNK):
            tasks = [
                NewTask(
                    p.id,
                    task.module_path,
                    task.priority,
                    task.takes_context,
                    run_after,
                    p.args_json,
                    p.kwargs_json,
                    timeout_ms,
                    expires_ms,
                    p.unique_digest,
                )
                for p in prepared[start : start + ENQUEUE_CHUNK]
            ]
            calls.append(self.scripts.enqueue(queue=task.queue_name, tasks=tasks))
        if len(calls) == 1:
            reply = self.store.run_hot(calls[0], spin=True)
            return reply.enqueued_at, reply.holders
        replies = self.store.run_many(calls, wait_for_replicas=True)
        holders = {
            n * ENQUEUE_CHUNK + position: holder
            for n, reply in enumerate(replies)
            for position, holder in reply.holders.items()
        }
        return replies[0].enqueued_at, holders

    def _announce(
        self,
        task: Task,
        prepared: list[PreparedCall],
        enqueued_at: datetime | None,
        holders: dict[int, str],
        signal: bool = True,
    ) -> list[TaskResult]:
        """The TaskResults, built after the write: right after an idle wait building one
        takes ~0.1 ms (nothing of it is cached), which the worker no longer waits for. A
        call absorbed by an equal unique task gets that task's result (no signal)."""
        results = []
        for position, call in enumerate(prepared):
            if position in holders:
                try:
                    results.append(self.read_result(holders[position]))
                    continue
                except TaskResultDoesNotExist:
                    pass  # finished and purged since: say what was asked for
            result: TaskResult[Any, Any] = TaskResult(
                task=task,
                id=call.id,
                status=TaskResultStatus.READY,
                enqueued_at=enqueued_at,
                started_at=None,
                last_attempted_at=None,
                finished_at=None,
                args=call.args,
                kwargs=call.kwargs,
                backend=self.alias,
                errors=[],
                worker_ids=[],
            )
            if signal:
                task_enqueued.send(self.sender, task_result=result)
            results.append(result)
        return results

    def _held_until_commit(self, task: Task, prepared: list[PreparedCall]) -> bool:
        """With `enqueue_on_commit`, inside an atomic block: write when the transaction
        commits (never if it rolls back). Returns whether the write was deferred."""
        if not self.config.enqueue_on_commit:
            return False
        if not transaction.get_connection().in_atomic_block:
            return False

        def write() -> None:
            enqueued_at, holders = self._write(task, prepared)
            for position, call in enumerate(prepared):
                if position not in holders:
                    self._send_enqueued(task, call, enqueued_at)

        transaction.on_commit(write)
        return True

    def _send_enqueued(self, task: Task, call: PreparedCall, enqueued_at: datetime | None) -> None:
        result = self._announce(task, [call], enqueued_at, {}, signal=False)[0]
        task_enqueued.send(self.sender, task_result=result)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Store a task in Redis; when this returns, the task is durable (see guarantees),
        unless `enqueue_on_commit` holds it until the current transaction commits."""
        prepared = self._prepare(task, [(args, kwargs)])
        if self._held_until_commit(task, prepared):
            return self._announce(task, prepared, None, {}, signal=False)[0]
        enqueued_at, holders = self._write(task, prepared)
        return self._announce(task, prepared, enqueued_at, holders)[0]

    def enqueue_many(self, task: Task, calls: Iterable[tuple[Any, Any]]) -> list[TaskResult]:
        """Enqueue one task with many (args, kwargs) pairs in as few round trips as possible.

        All arguments are validated before anything is written. Each chunk of 500 tasks is
        written atomically; the chunks go in one pipelined round trip."""
        prepared = self._prepare(task, list(calls))
        if not prepared:
            return []
        if self._held_until_commit(task, prepared):
            return self._announce(task, prepared, None, {}, signal=False)
        enqueued_at, holders = self._write(task, prepared)
        return self._announce(task, prepared, enqueued_at, holders)
