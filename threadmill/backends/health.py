"""What can be wrong with a backend's Redis and pools, worded once.

`assess()` turns what one health read found (INFO, the data-loss mark, the replicas, the pools'
clock skew) into `HealthIssue`s with stable ids. `manage.py check` reports them as system
checks (`threadmill.checks`), the admin's overview and the dashboard show their messages.

    threadmill.W001  Redis unreachable              threadmill.E001  eviction may drop tasks
    threadmill.W002  persistence off                threadmill.E002  Redis older than 7.0
    threadmill.W003  Redis lost data (detected)     threadmill.W004  a pool's host clock is off
    threadmill.W005  fewer replicas than replica_acks
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .health_records import HealthIssue

#: Oldest Redis that runs Threadmill's scripts (script flags such as allow-oom, ZADD LT).
MINIMUM_REDIS = (7, 0)
#: Clock skew (host minus Redis) above which W004 warns. Threadmill itself uses Redis time
#: for leases and due times; skew only makes the run times pools publish misleading.
SKEW_WARNING_SECONDS = 60.0


def redis_too_old(version: str) -> bool:
    """True when an `INFO` redis_version is older than MINIMUM_REDIS (unparsable: False)."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return found < MINIMUM_REDIS


def unreachable(where: str, url: str, error: str) -> HealthIssue:
    return HealthIssue(
        "threadmill.W001",
        "warning",
        f"{where}Redis at {url} is unreachable ({error}).",
        "Start redis-server or fix REDIS_URL; tasks cannot be enqueued until it answers.",
    )


def assess(
    *,
    url: str,
    info: dict,
    lost_at: datetime | None,
    lost_detail: str,
    replica_acks: int,
    node: str,
    skews: Iterable[tuple[str, float]] = (),
    where: str = "",
    meta_key: str = "",
) -> list[HealthIssue]:
    """The issues of a server that answered, errors first. `info`: its INFO; `skews`: (pool
    id, host clock minus Redis clock) of each live pool; `where` prefixes each message (the
    checks name the alias: "TASKS['default']: "); `meta_key` is named in the W003 hint."""
    errors: list[HealthIssue] = []
    warnings: list[HealthIssue] = []
    version = str(info.get("redis_version", ""))
    if redis_too_old(version):
        errors.append(
            HealthIssue(
                "threadmill.E002",
                "error",
                f"{where}Redis at {url} is version {version}; Threadmill needs Redis 7.0 or "
                "newer (its scripts declare flags that older servers cannot compile).",
                "Upgrade to Redis 7.0+ or Valkey 8+ (Debian 12: apt-get install redis-server; "
                "or the redis:7 / valkey:8 container image).",
            )
        )
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        errors.append(
            HealthIssue(
                "threadmill.E001",
                "error",
                f"{where}Redis at {url} has maxmemory-policy {policy}: when memory runs out "
                "Redis evicts keys, silently deleting tasks.",
                "Set `maxmemory-policy noeviction`; enqueue then fails loudly when Redis is "
                "full while workers keep draining.",
            )
        )
    if not info.get("aof_enabled"):
        warnings.append(
            HealthIssue(
                "threadmill.W002",
                "warning",
                f"{where}Redis at {url} has persistence off (appendonly no): a Redis restart "
                "loses every queued and running task.",
                "Set `appendonly yes` (and `appendfsync always` to survive power loss) in "
                "redis.conf, or run `CONFIG SET appendonly yes`.",
            )
        )
    replicas = int(info.get("connected_slaves", 0))
    if replicas < replica_acks:
        warnings.append(
            HealthIssue(
                "threadmill.W005",
                "warning",
                f"{where}replica_acks is {replica_acks} but {node or url} has {replicas} "
                "connected replica(s): every enqueue and acknowledgement waits "
                "replica_ack_timeout and raises ReplicationTimeout.",
                "Start the replicas (replicaof), or lower replica_acks.",
            )
        )
    for pool_id, skew in skews:
        if abs(skew) > SKEW_WARNING_SECONDS:
            warnings.append(
                HealthIssue(
                    "threadmill.W004",
                    "warning",
                    f"{where}The clock of pool {pool_id}'s host is {skew:+.0f}s off Redis's.",
                    "Leases and due times use Redis time and are not affected, but run times "
                    "shown for that pool are off. Run NTP (chrony, systemd-timesyncd).",
                )
            )
    if lost_at is not None:
        clear = f"`redis-cli HDEL {meta_key} lost_at lost_detail`" if meta_key else "the admin"
        warnings.append(
            HealthIssue(
                "threadmill.W003",
                "warning",
                f"{where}Redis at {url} lost data at {lost_at} ({lost_detail}). Tasks queued "
                "before then may be gone.",
                f"Turn on persistence (appendonly yes). Clear this warning with {clear}.",
            )
        )
    return errors + warnings
