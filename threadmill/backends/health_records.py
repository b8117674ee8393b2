"""The backend's health as the backend interface returns it: the server's facts and what is
wrong with it (`ServerInfo`, `HealthIssue`, judged by `health.assess`), and everything the
dashboard and the admin's overview show, read in one batch (`Overview`: the server, queue
statistics, pools, newest failures and unfinished bulk jobs). Plain values, no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .job_records import BulkJob
from .pool_records import PoolStatus
from .records import QueueStats, TaskRecord


@dataclass(frozen=True, slots=True)
class HealthIssue:
    """One thing wrong with the backend's server or pools, worded once for `manage.py check`
    (its id, level and hint), the admin and the dashboard (its message)."""

    id: str  # a system check id, e.g. threadmill.W002
    level: str  # "error" or "warning"
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Health of the backend's server: what it is, and what is wrong with it."""

    url: str  # password masked
    reachable: bool
    error: str = ""
    version: str = ""  # the Redis protocol version it reports (Valkey: its Redis version)
    used_memory: int = 0
    maxmemory: int = 0
    maxmemory_policy: str = ""
    aof_enabled: bool = False
    appendfsync: str = ""
    rdb_save: str = ""
    now: datetime | None = None
    data_lost_at: datetime | None = None
    issues: list[HealthIssue] = field(default_factory=list)
    node: str = ""  # host:port of the server holding the alias's keys (cluster: slot master)
    topology: str = "standalone"  # standalone, cluster or sentinel
    connected_replicas: int = 0

    @property
    def warnings(self) -> list[str]:
        """The issues' messages, errors first, as the admin and the dashboard show them."""
        return [i.message for i in self.issues]


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the dashboard shows, read in one bounded batch (see `overview()`)."""

    server: ServerInfo
    queues: list[QueueStats]
    pools: list[PoolStatus]
    failures: list[TaskRecord]  # the most recent FAILED tasks across queues, newest first
    jobs: list[BulkJob] = field(default_factory=list)  # the unfinished bulk jobs
