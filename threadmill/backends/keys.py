"""Every Redis key name of a backend alias, in one place.

All keys of an alias are `<prefix>:{<alias>}:<name>`: the `{<alias>}` hash tag puts them in
one Redis Cluster slot, so every script runs on one shard. Scripts that must reach a task
record whose id they only learn inside Redis (acquire, reap) build `<base>task:<id>` from
the `base` they receive; it carries the same hash tag.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The five indexes a task id can sit in; RUNNING is the lease set.
STATUS_INDEXES = ("ready", "deferred", "running", "successful", "failed")


@dataclass(frozen=True)
class Keys:
    """Key names of one alias."""

    prefix: str
    alias: str

    @property
    def base(self) -> str:
        """`<prefix>:{<alias>}:`, the start of every key; the hash tag is `{<alias>}`."""
        return f"{self.prefix}:{{{self.alias}}}:"

    @property
    def hash_tag(self) -> str:
        return f"{{{self.alias}}}"

    def task(self, task_id: str) -> str:
        return f"{self.base}task:{task_id}"

    def index(self, queue: str, status: str) -> str:
        """Sorted set of the task ids of `queue` in `status` (one of STATUS_INDEXES)."""
        return f"{self.base}q:{queue}:{status}"

    def idle(self, queue: str) -> str:
        """List of the mailboxes of threads parked on queue (longest waiting first)."""
        return f"{self.base}q:{queue}:idle"

    def mailbox(self, mailbox_id: str) -> str:
        """List a parked thread blocks on: the lease handed to it, or a stop request."""
        return f"{self.base}mbox:{mailbox_id}"

    def park(self, mailbox_id: str) -> str:
        """Hash: how to lease a task to a parked thread (token, worker, queues)."""
        return f"{self.base}park:{mailbox_id}"

    def leases(self, worker_id: str) -> str:
        """Hash lease token -> task id of what one worker process holds."""
        return f"{self.base}leases:{worker_id}"

    def worker(self, worker_id: str) -> str:
        """Expiring hash: display status of one worker process."""
        return f"{self.base}worker:{worker_id}"

    def pool(self, pool_id: str) -> str:
        """Expiring hash: display status of one pool (master process)."""
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
