"""RedisTaskBackend: Django's task API and the worker API on Redis.

Configuration (`settings.TASKS[alias]`): `REDIS_URL` and `OPTIONS` (see
`threadmill.options`). Every state change is one call of a Lua script in `lua/` (atomic,
Redis time, idempotent under retries); this module only prepares keys and arguments and
decodes replies. The inspection API (admin, dashboard) lives in `inspection.py`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils.json import normalize_json

from threadmill.options import BackendOptions

from .base import (
    AckOutcome,
    AckResult,
    HeartbeatReply,
    Lease,
    MaintenanceReport,
    ThreadmillBackend,
)
from .connection import (
    TRANSLATED,
    Clients,
    generation,
    get_clients,
    raise_translated,
    translate_errors,
)
from .hotpath import Packed, ReplicaAcks
from .ids import new_task_id
from .inspection import RedisInspectionMixin
from .keys import Keys
from .scripts import load_scripts, run_pipeline
from .serialization import (
    encode_arguments,
    from_ms,
    lease_from_reply,
    record_from_hash,
    result_from_record,
    to_ms,
)
from .topology import CLUSTER, parse_url

logger = logging.getLogger("threadmill")

#: Tasks per script call in enqueue_many (bounded so no call blocks Redis for long).
ENQUEUE_CHUNK = 500


class PreparedCall(NamedTuple):
    """One validated call of enqueue / enqueue_many: its new id, its arguments as Django's
    TaskResult keeps them (normalized to JSON types) and as JSON."""

    id: str
    args: list
    kwargs: dict
    args_json: str
    kwargs_json: str


#: What request_stop puts in a parked thread's mailbox (a lease is a JSON array).
STOP_REQUEST = "stop"
VALIDATED_TASKS_KEPT = 1024


class RedisTaskBackend(RedisInspectionMixin, ThreadmillBackend):
    """A durable Redis backend for `django.tasks`; see docs/backend.md."""

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        url = params.get("REDIS_URL")
        if not url or not isinstance(url, str):
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}] needs a REDIS_URL, e.g. 'redis://localhost:6379/0' "
                f"(got {url!r})."
            )
        try:
            self.target = parse_url(url)
        except ValueError as exc:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['REDIS_URL'] {exc}.") from exc
        self.url = url
        self.config = BackendOptions.from_settings(alias, params.get("OPTIONS"))
        self.keys = Keys(self.config.key_prefix, alias)
        self._clients_stamp: int | None = None
        self._worker_args_cache: dict[tuple, tuple] = {}
        self._validated: set[Task] = set()
        self._lease_constants = (
            self.config.ms("lease_ttl"),
            self.config.batch_size,
            self.config.ms("result_ttl"),
        )
        self.scripts = load_scripts()
        # On a cluster the alias's hash tag picks the master; one server serves any alias.
        self.slot_key = self.keys.base if self.target.kind == CLUSTER else ""
        self._acks = None
        if self.config.replica_acks:
            self._acks = ReplicaAcks(
                self.config.replica_acks, self.config.replica_ack_timeout, self.keys.fence
            )

    # ---- clients ----------------------------------------------------------------------

    def clients(self) -> Clients:
        """This process's Redis clients for this alias (fork-safe, shared by threads)."""
        stamp = generation()  # changes in a forked child
        if self._clients_stamp != stamp:  # cached: this runs for every Redis call
            self._clients = get_clients(self.target, self.config, self.slot_key)
            self._clients_stamp = stamp
        return self._clients

    @property
    def client(self):
        """This process's Redis client for commands (fork-safe, shared by threads). On a
        cluster every command goes to the master of the alias's slot."""
        return self.clients().commands

    @property
    def blocking_client(self):
        return self.clients().blocking

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        with translate_errors(self.url):
            return self.scripts[name](self.client, keys, args)

    def _run_hot(self, name: str, keys: list[str], args: list[Any], spin: bool = False) -> Any:
        """A script call made for every task, on this thread's own connection; with
        replica_acks, it returns once that many replicas have the write. `spin`: busy-wait
        briefly for the reply (the reply_spin option; not for an idle thread's calls)."""
        try:  # not `with translate_errors(...)`: runs for every enqueue and ack
            return self.clients().hot.evalsha(self.scripts[name], keys, args, self._acks, spin)
        except TRANSLATED as exc:
            raise_translated(exc, self.url)

    # ---- Django's task API --------------------------------------------------------------

    def _validate_once(self, task: Task) -> None:
        """Django's validate_task, once per Task. A Task is immutable and what validation
        reads of this backend (its queues, what it supports) is fixed when it is created;
        a task with a run_after is validated every time (its check reads USE_TZ, and such
        tasks are usually made for one call). Validating runs `inspect` on the function:
        a tenth of a warm enqueue, more after the producer was idle."""
        if task in self._validated:
            return
        self.validate_task(task)
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
                args = normalize_json(args) if args else []
                kwargs = normalize_json(kwargs) if kwargs else {}
            except (TypeError, ValueError):
                encode_arguments(args, kwargs)  # raises the explanatory error
                raise
            prepared.append(
                PreparedCall(new_task_id(), args, kwargs, *encode_arguments(args, kwargs))
            )
        return prepared

    def _write(self, task: Task, prepared: list[PreparedCall]) -> datetime | None:
        queue = task.queue_name
        keys = self.keys
        run_after = "" if task.run_after is None else str(to_ms(task.run_after))
        calls = []
        for start in range(0, len(prepared), ENQUEUE_CHUNK):
            args: list[Any] = [keys.base, queue]
            task_keys = []
            for call in prepared[start : start + ENQUEUE_CHUNK]:
                task_keys.append(keys.task(call.id))
                args += [
                    call.id,
                    task.module_path,
                    task.priority,
                    "1" if task.takes_context else "0",
                    run_after,
                    call.args_json,
                    call.kwargs_json,
                ]
            calls.append((self.scripts["enqueue"], task_keys, args))
        if len(calls) == 1:
            replies = [self._run_hot("enqueue", calls[0][1], calls[0][2], spin=True)]
        else:
            with translate_errors(self.url):
                replies = run_pipeline(self.client, calls, self._acks)
        return from_ms(replies[0])

    def _announce(
        self, task: Task, prepared: list[PreparedCall], enqueued_at: datetime | None
    ) -> list[TaskResult]:
        """The TaskResults, built after the write: right after an idle wait building one
        takes ~0.1 ms (nothing of it is cached), which the worker no longer waits for."""
        results = []
        for call in prepared:
            result = TaskResult(
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
            task_enqueued.send(type(self), task_result=result)
            results.append(result)
        return results

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Store a task in Redis; when this returns, the task is durable (see guarantees)."""
        prepared = self._prepare(task, [(args, kwargs)])
        enqueued_at = self._write(task, prepared)
        return self._announce(task, prepared, enqueued_at)[0]

    def enqueue_many(self, task: Task, calls: Iterable[tuple[Any, Any]]) -> list[TaskResult]:
        """Enqueue one task with many (args, kwargs) pairs in as few round trips as possible.

        All arguments are validated before anything is written. Each chunk of 500 tasks is
        written atomically; the chunks go in one pipelined round trip."""
        prepared = self._prepare(task, list(calls))
        if not prepared:
            return []
        enqueued_at = self._write(task, prepared)
        return self._announce(task, prepared, enqueued_at)

    def get_result(self, result_id: str) -> TaskResult:
        with translate_errors(self.url):
            fields = self.client.hgetall(self.keys.task(result_id))
        if not fields:
            raise TaskResultDoesNotExist(result_id)
        return result_from_record(record_from_hash(result_id, fields), self.alias)

    def check(self, **kwargs: Any) -> list:
        from threadmill.checks import check_backend

        return check_backend(self)

    # ---- worker API ---------------------------------------------------------------------

    def _worker_args(self, worker_id: str, queues: Sequence[str]) -> tuple:
        """The parts of acquire / acknowledge calls that repeat for a worker, encoded once:
        (leases key, [base, worker id], [lease ms, batch, result ttl ms], [queues...])."""
        key = (worker_id, tuple(queues))
        found = self._worker_args_cache.get(key)
        if found is None:
            if len(self._worker_args_cache) > 64:
                self._worker_args_cache.clear()
            found = self._worker_args_cache[key] = (
                self.keys.leases(worker_id),
                Packed.of(self.keys.base, worker_id),
                Packed.of(*self._lease_constants),
                Packed.of(*queues),
            )
        return found

    def park(self, worker_id: str, queues: Sequence[str], token: str, mailbox: str) -> Lease | None:
        leases, worker, constants, listened = self._worker_args(worker_id, queues)
        reply = self._run_hot("park", [leases], [worker, token, constants, mailbox, listened])
        return lease_from_reply(reply) if reply else None

    def wait_for_lease(self, mailbox: str, timeout: float) -> Lease | None:
        with translate_errors(self.url):
            reply = self.blocking_client.blpop([self.keys.mailbox(mailbox)], timeout=timeout)
        if reply is None or reply[1] == STOP_REQUEST:
            return None
        return lease_from_reply(reply[1])

    def unpark(self, worker_id: str, mailbox: str, token: str) -> Lease | None:
        reply = self._run_hot(
            "unpark", [self.keys.leases(worker_id)], [self.keys.base, mailbox, token]
        )
        return lease_from_reply(reply) if reply else None

    def request_stop(self, mailboxes: Iterable[str]) -> None:
        with translate_errors(self.url):
            pipe = self.client.pipeline(transaction=False)
            for mailbox in mailboxes:
                pipe.rpush(self.keys.mailbox(mailbox), STOP_REQUEST)
            pipe.execute()

    def acquire(self, worker_id: str, queues: Sequence[str], token: str) -> Lease | None:
        leases, worker, constants, listened = self._worker_args(worker_id, queues)
        reply = self._run_hot("acquire", [leases], [worker, token, constants, listened], spin=True)
        return lease_from_reply(reply) if reply else None

    def acknowledge(
        self,
        lease: Lease,
        worker_id: str,
        *,
        succeeded: bool,
        value_json: str,
        next_token: str = "",
        queues: Sequence[str] = (),
    ) -> AckResult:
        leases, worker, constants, listened = self._worker_args(worker_id, queues)
        reply = self._run_hot(
            "acknowledge",
            [leases, self.keys.task(lease.task_id)],
            [
                worker,
                next_token,
                constants,
                lease.task_id,
                lease.token,
                "SUCCESSFUL" if succeeded else "FAILED",
                value_json,
                listened,
            ],
            spin=True,
        )
        return AckResult(
            outcome=AckOutcome(reply[0]),
            finished_at=from_ms(reply[1]),
            next_lease=lease_from_reply(reply[2]) if reply[2] else None,
        )

    def extend_lease(self, lease: Lease, seconds: float) -> AckOutcome:
        reply = self._run(
            "extend_lease",
            [self.keys.task(lease.task_id)],
            [self.keys.base, lease.task_id, lease.token, int(seconds * 1000)],
        )
        return AckOutcome(reply[0])

    def resolve_worker(self, worker_id: str, reason: str) -> dict[str, str]:
        k = self.keys
        reply = self._run(
            "resolve_worker",
            [k.seq, k.stats, k.workers, k.leases(worker_id)],
            [k.base, worker_id, reason, self.config.max_attempts, self.config.ms("result_ttl")],
        )
        return dict(zip(reply[::2], reply[1::2], strict=True))

    def heartbeat(self, pool_id: str, worker_ids: Iterable[str], status: dict) -> HeartbeatReply:
        k = self.keys
        reply = self._run(
            "heartbeat",
            [k.workers, k.pools, k.pool(pool_id), k.meta],
            # A fresh candidate each time: after a data loss the epoch in Redis changes.
            [
                pool_id,
                self.config.ms("heartbeat_ttl"),
                json.dumps(status),
                uuid.uuid4().hex,
                *worker_ids,
            ],
        )
        return HeartbeatReply(now=from_ms(reply[0]), epoch=reply[1], data_lost_at=from_ms(reply[2]))

    def remove_pool(self, pool_id: str, worker_ids: Iterable[str]) -> None:
        k = self.keys
        self._run("remove_pool", [k.workers, k.pools, k.pool(pool_id)], [pool_id, *worker_ids])

    def record_data_loss(self, detail: str) -> None:
        with translate_errors(self.url):
            now = self.client.time()
            self.client.hset(
                self.keys.meta,
                mapping={"lost_at": now[0] * 1000 + now[1] // 1000, "lost_detail": detail},
            )

    def maintain(
        self,
        queues: Sequence[str],
        *,
        reap: bool = True,
        housekeeping: bool = True,
        reap_until: float | None = None,
    ) -> MaintenanceReport:
        k, c, s = self.keys, self.config, self.scripts
        until = "" if reap_until is None else int(reap_until * 1000)
        steps = {
            "promote": (
                s["promote"],
                [k.seq, k.due],
                [k.base, c.batch_size, *queues],
            )
        }
        if housekeeping:
            steps["trim"] = (
                s["trim_results"],
                [k.index(q, st) for q in queues for st in ("successful", "failed")],
                [c.ms("result_ttl"), c.batch_size],
            )
        if housekeeping and reap:
            steps["expire"] = (
                s["expire_leases"],
                [k.stats] + [k.index(q, "running") for q in queues],
                [k.base, c.batch_size, c.ms("result_ttl"), c.ms("lease_ttl"), until, *queues],
            )
        if reap:
            steps["reap"] = (
                s["reap_workers"],
                [k.seq, k.stats, k.workers, k.pools],
                [k.base, c.batch_size, c.max_attempts, c.ms("result_ttl"), until],
            )
        with translate_errors(self.url):
            done = dict(zip(steps, run_pipeline(self.client, list(steps.values())), strict=True))
        reaped = done.get("reap", [])
        return MaintenanceReport(
            promoted=done["promote"],
            trimmed=done.get("trim", 0),
            expired=list(done.get("expire", [])),
            reaped_workers=dict(zip(reaped[::2], reaped[1::2], strict=True)),
        )
