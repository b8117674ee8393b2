"""Every Redis key name of a backend alias, in one place: the rule and its Python side.

The rule: every key of an alias is `base + name`, where `base` is `<prefix>:{<alias>}:`.
The `{<alias>}` hash tag puts all of them in one Redis Cluster slot, so every script runs on
one shard. The names:

    task:<id>                 hash    a task record
    q:<queue>:<status>        zset    a queue's index of one status (STATUS_INDEXES)
    q:<queue>:retrying        zset    the deferred tasks waiting to be retried (a subset)
    q:<queue>:idle            list    mailboxes of threads parked on the queue
    mbox:<mailbox>            list    what is handed to one parked thread
    park:<mailbox>            hash    how to lease a task to that parked thread
    parks:<worker>            set     the mailboxes a worker process has parked
    leases:<worker>           hash    lease token -> task id, what a worker process holds
    pool:<pool>               hash    a pool's last report (expiring)
    unique:<digest>           string  id of the task holding a unique claim
    control:<worker>          list    cancel / terminate requests for a worker process
    sched:<name>              hash    a periodic schedule's state (last slot, paused ...)
    sched:<name>:runs         list    a schedule's recent runs
    poolreq:<pool>            list    control requests for one pool (quiet, stop ...)
    paused                    set     the queues no pool takes tasks from
    m:<minute>                hash    runs per queue and outcome in one minute (expiring)
    m:<minute>:<queue>:<path> hash    a task path's runs and run-time buckets in one minute
    m:total:<queue>:<path>    hash    a task path's runs and run-time buckets, all time
    m:fail:<queue>:<path>     list    a task path's newest failed attempts (expiring)
    m:series                  zset    '<queue>\t<path>' -> when it last ran (ms)
    job:<id>                  hash    a bulk job (action, filter, cursor, progress)
    jobs                      zset    every bulk job by creation time (ms)
    jobs:active               set     the bulk jobs not finished (what brokers run)
    seq, due, workers, pools, queues, stats, fence, meta   one of each per alias

The Lua scripts build names with the functions of the `K` table in `lua/lib/1_records.lua`,
which has one function per method of `Keys` below, with the same name and the same result
(checked by tests/test_script_contract.py). A script takes a key from its KEYS when the
caller knows it, and builds a name with `K` only for what it learns inside Redis (the task
at the head of a queue, the mailbox of a parked thread).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The five indexes a task id can sit in; RUNNING is the lease set.
STATUS_INDEXES = ("ready", "deferred", "running", "successful", "failed")
#: A subset of 'deferred': tasks waiting for their next attempt after a failure.
RETRYING_INDEX = "retrying"


@dataclass(frozen=True)
class Keys:
    """Key names of one alias (see the module docstring for the rule)."""

    prefix: str
    alias: str

    @property
    def base(self) -> str:
        """`<prefix>:{<alias>}:`, the start of every key; the hash tag is `{<alias>}`."""
        return f"{self.prefix}:{{{self.alias}}}:"

    def task(self, task_id: str) -> str:
        return f"{self.base}task:{task_id}"

    def index(self, queue: str, status: str) -> str:
        """Sorted set of the task ids of `queue` in `status` (one of STATUS_INDEXES)."""
        return f"{self.base}q:{queue}:{status}"

    def idle(self, queue: str) -> str:
        """List of the mailboxes of threads parked on queue (longest waiting first)."""
        return f"{self.base}q:{queue}:idle"

    def mailbox(self, mailbox: str) -> str:
        """List a parked thread blocks on: the lease handed to it, or a stop request."""
        return f"{self.base}mbox:{mailbox}"

    def park(self, mailbox: str) -> str:
        """Hash: how to lease a task to a parked thread (token, worker, queues)."""
        return f"{self.base}park:{mailbox}"

    def parks(self, worker_id: str) -> str:
        """Set of the mailboxes of one worker process's parked threads."""
        return f"{self.base}parks:{worker_id}"

    def leases(self, worker_id: str) -> str:
        """Hash lease token -> task id of what one worker process holds."""
        return f"{self.base}leases:{worker_id}"

    def unique(self, digest: str) -> str:
        """String: the id of the task holding the unique claim `digest` while it is live."""
        return f"{self.base}unique:{digest}"

    def control(self, worker_id: str) -> str:
        """List of cancellation requests (JSON) for tasks one worker process runs."""
        return f"{self.base}control:{worker_id}"

    def schedule(self, name: str) -> str:
        """Hash: a periodic schedule's state (newest slot claimed, paused, skipped ...)."""
        return f"{self.base}sched:{name}"

    def schedule_runs(self, name: str) -> str:
        """List of a schedule's newest runs, 'slot_ms:task_id:how'."""
        return f"{self.base}sched:{name}:runs"

    def pool_requests(self, pool_id: str) -> str:
        """List of control requests (quiet, resume, stop, add-worker, remove-worker) for one
        pool; its master takes them every broker_interval."""
        return f"{self.base}poolreq:{pool_id}"

    @property
    def paused(self) -> str:
        """Set of the paused queues: acquire, park and hand-off to parked threads skip them."""
        return f"{self.base}paused"

    def metrics_minute(self, minute: int) -> str:
        """Hash '<queue>:<kind>' -> runs acknowledged in minute (ms // 60000); expiring."""
        return f"{self.base}m:{minute}"

    def metrics_task(self, minute: int, queue: str, path: str) -> str:
        """Hash of one task path's runs in one minute: kinds, run-time buckets, max."""
        return f"{self.base}m:{minute}:{queue}:{path}"

    def metrics_total(self, queue: str, path: str) -> str:
        """Hash of one task path's runs since first seen: kinds, buckets, sum of run ms."""
        return f"{self.base}m:total:{queue}:{path}"

    def metrics_failures(self, queue: str, path: str) -> str:
        """List of one task path's newest failed attempts, '<ms>\\t<id>\\t<kind>\\t<class>'."""
        return f"{self.base}m:fail:{queue}:{path}"

    @property
    def metrics_series(self) -> str:
        """Sorted set '<queue>\\t<path>' -> when that task path last ran (ms)."""
        return f"{self.base}m:series"

    def job(self, job_id: str) -> str:
        """Hash: a bulk job's action, filter, cursor and progress (see lua/bulk_chunk.lua)."""
        return f"{self.base}job:{job_id}"

    @property
    def jobs(self) -> str:
        """Sorted set job id -> creation time (ms): the jobs the admin lists."""
        return f"{self.base}jobs"

    @property
    def active_jobs(self) -> str:
        """Set of the ids of the bulk jobs not finished: what the brokers carry out."""
        return f"{self.base}jobs:active"

    def pool(self, pool_id: str) -> str:
        """Expiring hash: the last report of one pool (master process) and when it came."""
        return f"{self.base}pool:{pool_id}"

    @property
    def seq(self) -> str:
        """Counter that orders ready tasks FIFO within a priority."""
        return f"{self.base}seq"

    @property
    def due(self) -> str:
        """Sorted set queue -> a time no later than its earliest deferred task (ms): which
        queues promotion must look at."""
        return f"{self.base}due"

    @property
    def workers(self) -> str:
        """Sorted set worker id -> liveness deadline (ms, Redis time)."""
        return f"{self.base}workers"

    @property
    def pools(self) -> str:
        """Sorted set pool id -> liveness deadline (ms, Redis time)."""
        return f"{self.base}pools"

    @property
    def queues(self) -> str:
        """Set of every queue name that has been used."""
        return f"{self.base}queues"

    @property
    def stats(self) -> str:
        """Hash of counters: `<queue>:enqueued`, `<queue>:successful`, `<queue>:failed`."""
        return f"{self.base}stats"

    @property
    def fence(self) -> str:
        """String written before a WAIT on a retried call (see hotpath.FENCE_SCRIPT)."""
        return f"{self.base}fence"

    @property
    def meta(self) -> str:
        """Hash with the data epoch (detects a Redis that lost its data)."""
        return f"{self.base}meta"
