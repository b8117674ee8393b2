"""Bulk jobs on Redis: "requeue / purge / cancel every task of this list that passes this
filter", recorded in Redis and carried out by the pools' brokers in chunks.

A job is a hash (`Keys.job`) holding its action, queue, state, filter, who started it, a
cursor (index score and id of the last task examined) and its counts; `Keys.jobs` lists
every job by creation time and `Keys.active_jobs` the unfinished ones, which the brokers
read with their maintenance call (no extra round trip while there is none). One chunk
(`lua/bulk_chunk.lua`) examines at most `batch_size` tasks after the cursor, acts on those
that match, and moves the cursor, in one atomic call: a chunk is applied once or not at
all, so a job survives a closed tab, a killed pool and several pools running it at once,
and never acts on a task twice. Its time bound, fixed on Redis's clock at creation, keeps
tasks that enter the index later (a requeued task failing again) out of it.
"""

from __future__ import annotations

import uuid
from typing import Any

from .job_records import BulkJob, JobStatus
from .keys import RETRYING_INDEX
from .records import TaskState
from .redis_records import from_ms, to_ms
from .script_values import ChunkReply
from .search_records import TaskFilter
from .store import RedisStore

#: How long a finished job stays listed.
JOB_KEEP_SECONDS = 7 * 86400
#: Jobs listed at most.
MAX_JOBS = 100
ACTIONS = ("requeue", "purge", "cancel")
#: The states a bulk job may walk for each action (a running task is held by a worker, and
#: its index's scores move with every lease extension).
JOB_STATES = {
    "requeue": (TaskState.FAILED, TaskState.SUCCESSFUL),
    "purge": (TaskState.READY, TaskState.DEFERRED, TaskState.FAILED, TaskState.SUCCESSFUL),
    "cancel": (TaskState.READY, TaskState.DEFERRED),
}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def job_from_hash(fields: dict[str, str]) -> BulkJob | None:
    """A job record from its hash (None when it is not one)."""
    if not fields.get("id") or not fields.get("action"):
        return None
    try:
        state = TaskState(fields.get("state", "").upper())
        status = JobStatus(fields.get("status", ""))
    except ValueError:
        return None
    flt = TaskFilter(
        path=fields.get("f_path", ""),
        error=fields.get("f_error", ""),
        worker=fields.get("f_worker", ""),
        args=fields.get("f_args", ""),
        since=from_ms(fields.get("f_since")),
        until=from_ms(fields.get("f_until")),
    )
    outcomes = {k[2:]: _int(v) for k, v in fields.items() if k.startswith("o:")}
    return BulkJob(
        id=fields["id"],
        action=fields["action"],
        queue=fields.get("queue", ""),
        state=state,
        filter=flt,
        who=fields.get("who", ""),
        user_id=fields.get("user_id", ""),
        status=status,
        created_at=from_ms(fields.get("created_at")),
        started_at=from_ms(fields.get("started_at")),
        finished_at=from_ms(fields.get("finished_at")),
        updated_at=from_ms(fields.get("updated_at")),
        total=_int(fields.get("total")),
        examined=_int(fields.get("examined")),
        acted=_int(fields.get("acted")),
        refused=_int(fields.get("refused")),
        outcomes=outcomes,
        cancelled_by=fields.get("cancelled_by", ""),
        retrying=fields.get("index") == RETRYING_INDEX,
        logged=bool(fields.get("logged")),  # the token of whoever claimed the entry
    )


class RedisJobs:
    """The bulk jobs of one alias, over its store."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.keys = store.keys
        self.scripts = store.scripts
        self.keep_ms = JOB_KEEP_SECONDS * 1000

    def create(
        self,
        action: str,
        queue: str,
        state: TaskState,
        flt: TaskFilter,
        *,
        who: str,
        user_id: str = "",
        retrying: bool = False,
    ) -> BulkJob:
        state = TaskState(state)
        if retrying and (state != TaskState.DEFERRED or action == "requeue"):
            raise ValueError("Only a bulk cancel or purge takes the retrying (DEFERRED) tasks.")
        if action not in ACTIONS:
            raise ValueError(f"Unknown bulk action {action!r}: use one of {', '.join(ACTIONS)}.")
        if state not in JOB_STATES[action]:
            allowed = ", ".join(s.value for s in JOB_STATES[action])
            raise ValueError(f"A bulk {action} takes {allowed} tasks, not {state.value}.")
        job_id = uuid.uuid4().hex
        fields = {
            "action": action,
            "queue": queue,
            "state": state.slug,
            "who": who,
            "user_id": user_id,
            "f_path": flt.path,
            "f_error": flt.error,
            "f_worker": flt.worker,
            "f_args": flt.args,
            "f_since": "" if flt.since is None else str(to_ms(flt.since)),
            "f_until": "" if flt.until is None else str(to_ms(flt.until)),
            "time_field": TaskFilter.time_field(state),
            "index": RETRYING_INDEX if retrying else state.slug,
        }
        until = None if flt.until is None else to_ms(flt.until)
        self.store.run(
            self.scripts.create_job(
                job_id=job_id,
                queue=queue,
                state=state,
                keep_ms=self.keep_ms,
                until_ms=until,
                fields=fields,
                index=fields["index"],
            )
        )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> BulkJob | None:
        with self.store.translate():
            fields = self.store.reader.hgetall(self.keys.job(job_id))
        return job_from_hash(fields)

    def recent(self, limit: int = MAX_JOBS) -> list[BulkJob]:
        """The newest jobs first (finished ones stay JOB_KEEP_SECONDS)."""
        with self.store.translate():
            client = self.store.reader
            ids = client.zrange(self.keys.jobs, 0, max(1, limit) - 1, desc=True)
            pipe = client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self.keys.job(job_id))
            hashes = pipe.execute() if ids else []
        return [job for job in map(job_from_hash, hashes) if job is not None]

    def active_ids(self) -> list[str]:
        with self.store.translate():
            return sorted(self.store.reader.smembers(self.keys.active_jobs))

    def cancel(self, job_id: str, who: str) -> str:
        call = self.scripts.cancel_job(job_id=job_id, who=who, keep_ms=self.keep_ms)
        return self.store.run(call)

    def chunk(self, job_id: str, scan: int | None = None) -> ChunkReply:
        """One chunk: `scan` (default `batch_size`) tasks examined at most."""
        scan = max(1, int(scan or self.store.config.batch_size))
        return self.store.run(
            self.scripts.bulk_chunk(job_id=job_id, scan=scan, keep_ms=self.keep_ms)
        )

    def claim_log(self, job_id: str) -> bool:
        """True once for a finished job: whoever gets it writes the job's audit entry. The
        claim is a token of this call, read back in the same round trip, so a call that
        redis-py retries after a lost reply still knows it won."""
        key, token = self.keys.job(job_id), uuid.uuid4().hex
        with self.store.translate():
            pipe = self.store.client.pipeline(transaction=False)  # HSETNX decides alone
            pipe.hsetnx(key, "logged", token)
            pipe.pexpire(key, self.keep_ms, nx=True)  # never leave a hash without a TTL
            pipe.hget(key, "logged")
            _, _, holder = pipe.execute()
        return holder == token
