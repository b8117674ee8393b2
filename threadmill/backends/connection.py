"""Redis clients for a backend alias: created per process, configured explicitly.

* One set of clients per (alias settings, process): Django creates a backend object per
  thread, and all threads of a process share its connection pools. A forked child never
  reuses its parent's sockets: the cache is keyed by pid.
* Explicit timeouts everywhere; a second client for blocking waits whose socket timeout is
  longer than the block time, so a quiet queue is never mistaken for a dead server.
* Retries with capped exponential backoff on connection errors and timeouts. That is safe
  only because every Threadmill script is idempotent (enqueue keyed by task id, acquire
  keyed by lease token, acknowledge fenced by it).
* What REDIS_URL points at (`topology.py`): one server (`redis.Redis`, as always), the
  primary a Sentinel names (`redis.Redis` on a Sentinel-managed pool: after a failover
  new connections go to the new primary), or a Redis Cluster (`cluster.SlotClient`: every
  command goes to the master of the alias's slot).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    MovedError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from threadmill.exceptions import BackendUnavailable, RedisOutOfMemory
from threadmill.options import BackendOptions

from .cluster import TRANSIENT, SlotClient, SlotOwner
from .hotpath import DirectRoute, HotPath, SlotRoute
from .topology import CLUSTER, SENTINEL, STANDALONE, RedisTarget, mask_url


def _retry(retries: int) -> Retry:
    if retries == 0:
        return Retry(NoBackoff(), 0)
    return Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), retries)


def _common(options: BackendOptions, socket_timeout: float, connect_timeout: float) -> dict:
    return {
        "decode_responses": True,
        "encoding_errors": "replace",  # hand-edited bytes must not break a reply
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "max_connections": options.max_connections,
        "client_name": "threadmill",
    }


def make_client(
    target: RedisTarget,
    options: BackendOptions,
    slot_key: str,
    socket_timeout: float,
    retries: int,
    connect_timeout: float | None = None,
) -> Any:
    """A client with the interface of redis.Redis for target: a redis.Redis (one server,
    Sentinel) or a SlotClient (cluster: every command to the master of slot_key's slot)."""
    common = _common(options, socket_timeout, connect_timeout or options.socket_connect_timeout)
    if target.kind == STANDALONE:
        return redis.Redis.from_url(target.url, retry=_retry(retries), **common)
    auth: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.kind == SENTINEL:
        sentinels = Sentinel(
            list(target.nodes),
            sentinel_kwargs={  # a sentinel that does not answer: ask the next one at once
                "socket_timeout": min(options.socket_timeout, socket_timeout),
                "socket_connect_timeout": common["socket_connect_timeout"],
                "retry": _retry(0),
            },
        )
        return sentinels.master_for(
            target.service, db=target.db, ssl=target.tls, retry=_retry(retries),
            **auth, **common,
        )  # fmt: skip

    def make_cluster() -> RedisCluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            require_full_coverage=False,  # an alias needs only its own slot served
            retry=Retry(NoBackoff(), 0),  # SlotClient and HotPath retry, with backoff
            ssl=target.tls,
            **auth,
            **common,
        )

    return SlotClient(SlotOwner(make_cluster, slot_key), retries)


class Clients:
    """The clients of one process: normal commands, blocking waits, the per-task hot path,
    and (created on first use) the display reads of the admin and the dashboard."""

    def __init__(self, target: RedisTarget, options: BackendOptions, slot_key: str) -> None:
        self.target = target
        self.options = options
        self.slot_key = slot_key
        self._reads: Any = None
        self._reads_lock = threading.Lock()
        # A WAIT for replicas happens on the connection that wrote: its reply may take
        # replica_ack_timeout on top of the normal socket timeout.
        timeout = options.socket_timeout
        if options.replica_acks:
            timeout += options.replica_ack_timeout
        self.commands = make_client(target, options, slot_key, timeout, options.retry_attempts)
        self.blocking = make_client(
            target, options, slot_key, options.block_timeout + options.socket_timeout, 0
        )
        if target.kind == CLUSTER:
            route: DirectRoute | SlotRoute = SlotRoute(self.commands.owner)
        else:
            route = DirectRoute(self.commands)
        self.hot = HotPath(route, options.retry_attempts, options.reply_spin)

    @property
    def reads(self) -> Any:
        """The client of display reads (admin pages, dashboard): its socket and connect
        timeouts are `admin_timeout`, and it never retries, so a dead or frozen Redis is
        reported within about `admin_timeout` (see `display.py`)."""
        if self._reads is None:
            with self._reads_lock:
                if self._reads is None:
                    timeout = self.options.admin_timeout
                    self._reads = make_client(
                        self.target, self.options, self.slot_key, timeout, 0, timeout
                    )
        return self._reads

    def master_address(self, reads: bool = False) -> str:
        """host:port of the server that holds the alias's keys now (for display); `reads`:
        ask through the display-reads client (a Sentinel is asked with its timeouts)."""
        client = self.reads if reads else self.commands
        if self.target.kind == CLUSTER:
            return client.owner.node_name()
        pool = client.connection_pool
        if self.target.kind == SENTINEL:
            host, port = pool.get_master_address()
            return f"{host}:{port}"
        kwargs = pool.connection_kwargs
        return kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"

    def close(self) -> None:
        close_client(self.commands)
        close_client(self.blocking)
        if self._reads is not None:
            close_client(self._reads)
        self.hot.close()


def close_client(client: Any) -> None:
    """Close a client from make_client and every socket it opened (sentinels included)."""
    client.close()
    pool = getattr(client, "connection_pool", None)  # not on a cluster's SlotClient
    if pool is not None:
        pool.disconnect()
        manager = getattr(pool, "sentinel_manager", None)
        if manager is not None:
            manager.close()


_clients: dict[tuple, Clients] = {}
_lock = threading.Lock()


_generation = 0


def get_clients(target: RedisTarget, options: BackendOptions, slot_key: str = "") -> Clients:
    """This process's clients for target and options (created on first use). slot_key is
    a key of the alias (cluster only: its slot decides which master serves the alias)."""
    key = (target.url, options, os.getpid(), slot_key)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            if any(k[2] != key[2] for k in _clients):  # forked: drop the parent's entries
                for stale in [k for k in _clients if k[2] != key[2]]:
                    del _clients[stale]
            found = _clients[key] = Clients(target, options, slot_key)
        return found


def close_all() -> None:
    """Disconnect every client of this process (tests, shutdown)."""
    global _generation
    with _lock:
        for clients in _clients.values():
            clients.close()
        _clients.clear()
        _generation += 1


def generation() -> int:
    """Changes whenever close_all() dropped the clients and in a forked child (callers
    that cache clients must fetch them again)."""
    return _generation


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


#: What `translated` knows how to explain (RedisClusterException is not a RedisError).
TRANSLATED = (RedisError, RedisClusterException)


def translated(exc: Exception, url: str) -> Exception | None:
    """Threadmill's error for one of redis-py's (naming the server, password masked), or
    None when there is nothing to add. Callers raise it `from exc`."""
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return BackendUnavailable(
            f"Redis at {mask_url(url)} did not answer: {exc}. Is redis-server running and "
            "is REDIS_URL right?"
        )
    if isinstance(exc, MovedError):
        if url.split("://")[0].endswith("+cluster"):
            return BackendUnavailable(
                f"Redis Cluster at {mask_url(url)}: the alias's slot kept moving ({exc})."
            )
        return BackendUnavailable(
            f"Redis at {mask_url(url)} is a Redis Cluster node (it answered MOVED): use a "
            "redis+cluster://host1:port1,host2:port2,.../ URL."
        )
    if isinstance(exc, (*TRANSIENT, RedisClusterException)):
        return BackendUnavailable(
            f"Redis at {mask_url(url)} cannot serve the alias's keys right now (a failover "
            f"or a slot migration in progress?): {exc}"
        )
    if isinstance(exc, ReadOnlyError):
        return BackendUnavailable(
            f"Redis at {mask_url(url)} is a read-only replica: point REDIS_URL at the "
            "primary, or use redis+sentinel:// so failovers are followed."
        )
    if isinstance(exc, ResponseError):
        if isinstance(exc, OutOfMemoryError) or str(exc).startswith("OOM"):
            return RedisOutOfMemory(
                f"Redis at {mask_url(url)} is full (maxmemory reached, policy noeviction): "
                "nothing was written. Let workers drain the queue, purge old results, or "
                "raise maxmemory."
            )
        if str(exc).startswith("UNBLOCKED"):
            return BackendUnavailable(
                f"Redis at {mask_url(url)} stopped being the primary during a blocking wait "
                "(a failover): the wait is retried."
            )
        if str(exc).startswith("NOREPLICAS"):
            return BackendUnavailable(
                f"Redis at {mask_url(url)} refuses writes: fewer replicas than its "
                "min-replicas-to-write are connected and in sync. Nothing was written."
            )
    return None


def raise_translated(exc: Exception, url: str) -> NoReturn:
    """Raise Threadmill's error for exc (from exc), or exc itself when there is none. For
    an `except TRANSLATED` block on a hot path, where a context manager costs too much."""
    better = translated(exc, url)
    if better is None:
        raise exc
    raise better from exc


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py's errors into Threadmill's (see `translated`)."""
    try:
        yield
    except TRANSLATED as exc:
        raise_translated(exc, url)
