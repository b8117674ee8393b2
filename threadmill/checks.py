"""System checks (`manage.py check`) with stable ids and a hint that says how to fix it.

threadmill.W001  Redis unreachable             threadmill.E001  eviction policy may drop tasks
threadmill.W002  persistence off               threadmill.W003  Redis lost data (detected)
threadmill.W004  a pool's host clock is off    threadmill.W005  fewer replicas than replica_acks
threadmill.W010  no TASKS alias uses Threadmill threadmill.E002  Redis older than 7.0
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.core import checks

if TYPE_CHECKING:
    from threadmill.backends.redis import RedisTaskBackend

#: Longest a system check waits for Redis, so `manage.py migrate` is never held up long.
CHECK_TIMEOUT = 1.0
#: Clock skew (host minus Redis) above which W004 warns. Threadmill itself uses Redis time
#: for leases and due times; skew only makes the run times pools publish misleading.
SKEW_WARNING_SECONDS = 60.0
#: Oldest Redis that runs Threadmill's scripts (script flags such as allow-oom, ZADD LT).
MINIMUM_REDIS = (7, 0)


def redis_too_old(version: str) -> bool:
    """True when an `INFO` redis_version is older than MINIMUM_REDIS (unparsable: False)."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return found < MINIMUM_REDIS


def check_backend(backend: RedisTaskBackend) -> list[checks.CheckMessage]:
    """Health of one backend's Redis, called through `backend.check()`."""
    import redis

    from threadmill.backends.connection import close_client, make_client, mask_url

    url = mask_url(backend.url)
    where = f"TASKS[{backend.alias!r}]"
    # No retries; on a cluster, the master of the alias's slot answers.
    client = make_client(
        backend.target, backend.config, backend.slot_key, CHECK_TIMEOUT, 0, CHECK_TIMEOUT
    )
    try:
        info = client.info()
        lost = client.hmget(backend.keys.meta, "lost_at", "lost_detail")
        pools = client.zrange(backend.keys.pools, 0, 49)
        statuses = [client.hget(backend.keys.pool(p), "status") for p in pools]
    except redis.RedisError as exc:
        return [
            checks.Warning(
                f"{where}: Redis at {url} is unreachable ({exc}).",
                hint="Start redis-server or fix REDIS_URL; tasks cannot be enqueued until "
                "it answers.",
                id="threadmill.W001",
            )
        ]
    finally:
        close_client(client)
    messages: list[checks.CheckMessage] = []
    version = str(info.get("redis_version", ""))
    if redis_too_old(version):
        messages.append(
            checks.Error(
                f"{where}: Redis at {url} is version {version}; Threadmill needs Redis 7.0 "
                "or newer (its scripts declare flags that older servers cannot compile).",
                hint="Upgrade redis-server to 7.0+ (Debian 12: apt-get install redis-server; "
                "or the redis:7 container image).",
                id="threadmill.E002",
            )
        )
    if not info.get("aof_enabled"):
        messages.append(
            checks.Warning(
                f"{where}: Redis at {url} has persistence off (appendonly no): a Redis "
                "restart loses every queued and running task.",
                hint="Set `appendonly yes` (and `appendfsync always` to survive power loss) "
                "in redis.conf, or run `CONFIG SET appendonly yes`.",
                id="threadmill.W002",
            )
        )
    policy = info.get("maxmemory_policy", "noeviction")
    if policy != "noeviction":
        messages.append(
            checks.Error(
                f"{where}: Redis at {url} has maxmemory-policy {policy}: when memory runs out "
                "Redis evicts keys, silently deleting tasks.",
                hint="Set `maxmemory-policy noeviction`; enqueue then fails loudly when "
                "Redis is full while workers keep draining.",
                id="threadmill.E001",
            )
        )
    replicas = int(info.get("connected_slaves", 0))
    if replicas < backend.config.replica_acks:
        messages.append(
            checks.Warning(
                f"{where}: replica_acks is {backend.config.replica_acks} but the primary at "
                f"{url} has {replicas} connected replica(s): every enqueue and "
                "acknowledgement will wait replica_ack_timeout and raise ReplicationTimeout.",
                hint="Start the replicas (replicaof), or lower replica_acks.",
                id="threadmill.W005",
            )
        )
    for pool_id, status in zip(pools, statuses, strict=True):
        try:
            skew = float(json.loads(status or "{}").get("skew_seconds", 0.0))
        except (ValueError, TypeError, AttributeError):
            continue
        if abs(skew) > SKEW_WARNING_SECONDS:
            messages.append(
                checks.Warning(
                    f"{where}: the clock of pool {pool_id}'s host is {skew:+.0f}s off Redis's.",
                    hint="Leases and due times use Redis time and are not affected, but run "
                    "times shown for that pool are off. Run NTP (chrony, systemd-timesyncd).",
                    id="threadmill.W004",
                )
            )
    if lost[0]:
        from threadmill.backends.serialization import from_ms

        messages.append(
            checks.Warning(
                f"{where}: Redis at {url} lost data at {from_ms(lost[0])} ({lost[1]}). "
                "Tasks queued before then may be gone.",
                hint="Turn on persistence (appendonly yes). Clear this warning with "
                f"`redis-cli HDEL {backend.keys.meta} lost_at lost_detail`.",
                id="threadmill.W003",
            )
        )
    return messages


@checks.register(checks.Tags.compatibility)
def check_tasks_setting(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """threadmill is installed, but no TASKS alias uses one of its backends."""
    from django.conf import settings

    backends = [str(p.get("BACKEND", "")) for p in getattr(settings, "TASKS", {}).values()]
    if any(b.startswith("threadmill.") for b in backends):
        return []
    return [
        checks.Warning(
            "threadmill is in INSTALLED_APPS but no TASKS alias uses its backend.",
            hint="Set TASKS = {'default': {'BACKEND': "
            "'threadmill.backends.redis.RedisTaskBackend', 'REDIS_URL': ...}}.",
            id="threadmill.W010",
        )
    ]
