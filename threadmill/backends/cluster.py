"""Redis Cluster for one backend alias: every command goes to the master of the alias's slot.

All keys of an alias share one hash slot (`{<alias>}`), so one master holds all of them and
every script runs there unchanged. redis-py's `RedisCluster` knows the topology (from
the startup nodes, refreshed after a MOVED or a lost node); Threadmill asks it which
master owns the slot and then talks to that master with an ordinary `redis.Redis`:

* `SlotOwner`: the slot, the cluster client, and the two ways the topology is refreshed
  (a MOVED reply patches the slot; a connection error re-reads the topology from the
  nodes that still answer).
* `SlotClient`: looks like `redis.Redis` to the backend (hgetall, pipeline, info,
  evalsha, blpop ...). Each call runs on the slot's master; MOVED is followed at once,
  connection errors, timeouts and a cluster that is failing over (CLUSTERDOWN,
  TRYAGAIN) are retried `retries` times with capped exponential backoff (safe: every
  Threadmill script is idempotent). A pipeline is replayed as a whole on the new master.
* the per-task calls (`hotpath.HotPath`, through `hotpath.SlotRoute`) keep a connection per
  thread to the slot's master and use `SlotOwner` to find the new one after a failover.

`RedisCluster`'s own command routing is not used: it cannot pipeline EVALSHA, sends TIME,
INFO and CONFIG GET to arbitrary nodes, and retries without backoff.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster, key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")

#: MOVED replies followed within one call before giving up (a slot changes owner once
#: per failover; more means the topology is still settling).
MAX_REDIRECTS = 5
#: Replies during a slot migration (resharding): ask again shortly.
MIGRATING = (TryAgainError, AskError)
#: Replies that mean "ask again shortly": a failover or a slot migration in progress.
TRANSIENT = (ClusterDownError, *MIGRATING)
LOST = (RedisConnectionError, RedisTimeoutError)


def unblocked(exc: Exception) -> bool:
    """A blocking wait ended because its server stopped being a master (a failover):
    `-UNBLOCKED force unblock from blocking operation, instance state changed`."""
    return isinstance(exc, ResponseError) and str(exc).startswith("UNBLOCKED")


def backoff(failures: int) -> float:
    """Capped exponential backoff with jitter: ~50 ms, 100 ms, 200 ms ... at most 1 s."""
    return min(1.0, 0.05 * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)


class SlotOwner:
    """The master that owns one hash slot, as redis-py's RedisCluster sees it.

    The RedisCluster is created on first use (it contacts the startup nodes), so building
    a backend never needs the cluster to be up."""

    def __init__(self, make_cluster: Callable[[], RedisCluster], key: str) -> None:
        self._make = make_cluster
        self._cluster: RedisCluster | None = None
        self._lock = threading.Lock()
        self.slot = key_slot(key.encode())

    @property
    def cluster(self) -> RedisCluster:
        cluster = self._cluster
        if cluster is None:
            with self._lock:
                if self._cluster is None:
                    try:
                        self._cluster = self._make()
                    except RedisClusterException as exc:
                        raise RedisConnectionError(f"no cluster node answered: {exc}") from exc
                cluster = self._cluster
        return cluster

    def _node(self) -> ClusterNode:
        try:
            return self.cluster.nodes_manager.get_node_from_slot(self.slot)
        except SlotNotCoveredError as exc:  # its shard is down: like CLUSTERDOWN
            raise ClusterDownError(str(exc)) from exc

    def node_name(self) -> str:
        """host:port of the slot's master."""
        return self._node().name

    def master(self) -> redis.Redis:
        """A redis.Redis (with its own connection pool) for the slot's master."""
        return self.cluster.get_redis_connection(self._node())

    def moved(self, exc: MovedError) -> None:
        """The slot has a new master (MOVED host:port): patch the slot table."""
        self.cluster.nodes_manager.move_slot(exc)

    def refresh(self, failed_node: str | None = None) -> None:
        """Re-read the topology from the nodes that answer (after a lost connection or
        CLUSTERDOWN). Concurrent refreshes collapse into one; if no node answers, the
        table stays as it was and the next call fails again."""
        with contextlib.suppress(redis.RedisError, RedisClusterException):
            self.cluster.nodes_manager.initialize(last_failed_node_name=failed_node)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()


class SlotClient:
    """A `redis.Redis` look-alike whose every command runs on the slot's master."""

    def __init__(self, owner: SlotOwner, retries: int) -> None:
        self.owner = owner
        self.retries = retries

    def execute(self, call: Callable[[redis.Redis], T]) -> T:
        """call(master) with MOVED followed and failures retried with backoff."""
        failures = redirects = 0
        while True:
            node = None
            try:
                node = self.owner.node_name()
                return call(self.owner.master())
            except MovedError as exc:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise
                self.owner.moved(exc)
                continue
            except (*LOST, *TRANSIENT, ResponseError) as exc:
                if isinstance(exc, ResponseError) and not (
                    isinstance(exc, TRANSIENT) or unblocked(exc)
                ):
                    raise
                failures += 1
                if not isinstance(exc, MIGRATING):
                    self.owner.refresh(node)
                if failures > self.retries:
                    raise
            threading.Event().wait(backoff(failures))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not callable(getattr(redis.Redis, name, None)):
            raise AttributeError(name)

        def command(*args: Any, **kwargs: Any) -> Any:
            return self.execute(lambda master: getattr(master, name)(*args, **kwargs))

        command.__name__ = name
        return command

    def pipeline(self, transaction: bool = False) -> SlotPipeline:
        if transaction:
            raise ValueError("Threadmill's cluster pipelines are never transactions")
        return SlotPipeline(self)

    def close(self) -> None:
        self.owner.close()

    def __enter__(self) -> SlotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SlotPipeline:
    """Commands queued, then sent in one round trip to the slot's master. Replayed as a
    whole after MOVED or a lost connection: only idempotent commands are pipelined."""

    def __init__(self, client: SlotClient) -> None:
        self._client = client
        self._calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str) -> Callable[..., SlotPipeline]:
        if not callable(getattr(redis.client.Pipeline, name, None)):
            raise AttributeError(name)

        def queue(*args: Any, **kwargs: Any) -> SlotPipeline:
            self._calls.append((name, args, kwargs))
            return self

        return queue

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        def run(master: redis.Redis) -> list[Any]:
            pipe = master.pipeline(transaction=False)
            for name, args, kwargs in self._calls:
                getattr(pipe, name)(*args, **kwargs)
            results = pipe.execute(raise_on_error=False)
            for result in results:  # the slot moved or is moving: replay on the owner
                if isinstance(result, (MovedError, *TRANSIENT)):
                    raise result
            return results

        results = self._client.execute(run)
        self._calls = []
        if raise_on_error:
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return results

    def __len__(self) -> int:
        return len(self._calls)

    def __enter__(self) -> SlotPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._calls = []
