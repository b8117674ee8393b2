"""The per-task script calls (enqueue, acquire, acknowledge) on a connection each thread
keeps for itself, and the optional wait for replicas after them.

A thread's connection skips the pool's per-command bookkeeping (checkout, a non-blocking
read to detect stale data, release), a third of the client's cost. Where the connection
goes is a route's business: one server (or the primary a Sentinel names, found again on
each connect), or the master of the alias's slot in a Redis Cluster (found again after
MOVED or a lost connection).

Retries follow the client's policy: connection errors and timeouts are retried with capped
exponential backoff (every Threadmill script is idempotent); a script missing from the
server's cache is loaded and the call repeated.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from threadmill.exceptions import ReplicationTimeout

from . import lua
from . import spin as reply_spin
from .cluster import MAX_REDIRECTS, MIGRATING, TRANSIENT, SlotOwner, backoff
from .lua import Script

#: Written before WAIT when a call was retried on another connection: WAIT waits for the
#: replication offset of its connection's last write, and a retried script that finds its
#: work done writes nothing. This write moves the connection's offset to the master's
#: current one, so WAIT covers whatever the first attempt wrote. (Redis 7.0 already starts
#: a new connection at the current offset; the fence does not rely on it.) allow-oom: an
#: acknowledgement must work at maxmemory.
FENCE_SCRIPT = "#!lua flags=allow-oom\nreturn redis.call('SET', KEYS[1], ARGV[1])"


def _encode(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return b"%d" % value
    return str(value).encode()


@dataclass(frozen=True, slots=True)
class Packed:
    """Arguments encoded once (they repeat in every call of a worker): `values`, as RESP
    bulk strings in `data`. Where a call is sent through redis-py (not this module), the
    values are sent instead."""

    values: tuple
    data: bytes

    @property
    def count(self) -> int:
        return len(self.values)

    @classmethod
    def of(cls, *values: object) -> Packed:
        encoded = [_encode(v) for v in values]
        return cls(values, b"".join(b"$%d\r\n%s\r\n" % (len(e), e) for e in encoded))


def pack_command(parts: list) -> bytes:
    """A command in RESP, as redis-py's packer would write it, without its generality.
    A `Packed` part stands for several arguments already encoded."""
    chunks = [b""]
    count = 0
    for part in parts:
        if type(part) is Packed:
            chunks.append(part.data)
            count += len(part.values)
        else:
            item = _encode(part)
            chunks.append(b"$%d\r\n%s\r\n" % (len(item), item))
            count += 1
    chunks[0] = b"*%d\r\n" % count
    return b"".join(chunks)


@dataclass(frozen=True)
class ReplicaAcks:
    """Wait after a write until `replicas` replicas have it (Redis WAIT), at most
    `timeout` seconds; `fence_key` (in the alias's slot) is what FENCE_SCRIPT writes."""

    replicas: int
    timeout: float
    fence_key: str
    wait: bytes = field(init=False, repr=False)
    fence: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        timeout_ms = max(1, round(self.timeout * 1000))
        object.__setattr__(self, "wait", pack_command(["WAIT", self.replicas, timeout_ms]))
        object.__setattr__(
            self, "fence", pack_command(["EVAL", FENCE_SCRIPT, 1, self.fence_key, "1"])
        )

    def check(self, acknowledged: int, where: str = "") -> None:
        if acknowledged < self.replicas:
            at = f" at {where}" if where else ""
            raise ReplicationTimeout(
                f"only {acknowledged} of {self.replicas} replica(s) acknowledged the write "
                f"within {self.timeout:g}s (replica_ack_timeout) on the primary{at}. "
                "The write is on the primary (the task exists, the result is stored), but a "
                "failover now could lose it; retrying is safe.",
                acknowledged=acknowledged,
                required=self.replicas,
            )


def _address(conn: AbstractConnection) -> str:
    """host:port of a connection (a Unix socket: its path)."""
    path = getattr(conn, "path", "")
    return path or f"{getattr(conn, 'host', '?')}:{getattr(conn, 'port', '?')}"


def _script_load(conn: AbstractConnection, source: str) -> None:
    conn.send_command("SCRIPT", "LOAD", source)
    conn.read_response()


class DirectRoute:
    """One server, or the primary a Sentinel names: new connections use the client's
    pool settings. Connections are opened explicitly: a Sentinel-managed connection asks
    the sentinels for the primary in connect() only (a lazy connect on first send would
    go to redis-py's default address, localhost:6379)."""

    def __init__(self, client: redis.Redis) -> None:
        # HotPath's loop is the retry policy: a connection attempt is made once per turn.
        self._kwargs = {**client.connection_pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        self._connection_class = client.connection_pool.connection_class

    def connect(self) -> AbstractConnection:
        conn = self._connection_class(**self._kwargs)
        conn.connect()
        return conn

    def failed(self, exc: Exception, node: str | None = None) -> None:
        if isinstance(exc, ResponseError):  # CLUSTERDOWN & co. from a non-cluster server
            raise exc

    def moved(self, exc: MovedError) -> None:
        raise exc  # a single server never redirects: REDIS_URL points at a cluster node


class SlotRoute:
    """The master of an alias's slot in a Redis Cluster."""

    def __init__(self, owner: SlotOwner) -> None:
        self.owner = owner

    def connect(self) -> AbstractConnection:
        pool = self.owner.master().connection_pool  # its connections never retry by themselves
        conn = pool.connection_class(**pool.connection_kwargs)
        conn.connect()
        return conn

    def failed(self, exc: Exception, node: str | None = None) -> None:
        if not isinstance(exc, MIGRATING):  # TRYAGAIN / ASK: same owner, ask again later
            self.owner.refresh(node)

    def moved(self, exc: MovedError) -> None:
        self.owner.moved(exc)


class HotPath:
    """Script calls on a connection per thread, with retries, and WAIT when asked.
    `spin`: the budget (seconds) of a call made with `spin=True` (see spin.py); 0: never."""

    def __init__(self, route: DirectRoute | SlotRoute, retries: int, spin: float = 0.0) -> None:
        self._route = route
        self._retries = retries
        self._spin = spin
        self._local = threading.local()
        self._all: weakref.WeakSet = weakref.WeakSet()

    def _connection(self) -> AbstractConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._route.connect()
            self._all.add(conn)
        return conn

    def _drop(self, conn: AbstractConnection | None) -> None:
        """A failed connection is never reused: the next one is found through the route
        (the slot's master may have moved, Sentinel may name another primary)."""
        if conn is not None:
            conn.disconnect()
            if getattr(self._local, "conn", None) is conn:
                self._local.conn = None

    def _spinner(self) -> reply_spin.ReplySpin:
        spinner = getattr(self._local, "spin", None)
        if spinner is None:
            spinner = self._local.spin = reply_spin.ReplySpin(self._spin)
        return spinner

    def evalsha(
        self,
        script: Script,
        keys: list[str],
        args: list,
        acks: ReplicaAcks | None = None,
        spin: bool = False,
    ) -> Any:
        """Run script; `spin`: busy-wait briefly for the reply (a per-task call: enqueue,
        acquire, acknowledge), unless reply_spin is 0 or this process forbids it."""
        spin = spin and self._spin > 0 and reply_spin.allowed()
        packed = pack_command(["EVALSHA", script.sha, len(keys), *keys, *args])
        conn: AbstractConnection | None = None
        failures = redirects = 0
        while True:
            try:
                if conn is None:
                    conn = self._connection()
                if acks is None:
                    conn.send_packed_command([packed])
                    if spin:
                        self._spinner().wait(conn._sock)
                    return conn.read_response()
                return self._call_and_wait(conn, packed, acks, fence=failures + redirects > 0)
            except NoScriptError:
                if conn is not None:
                    lua.load_all(partial(_script_load, conn))
            except MovedError as exc:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise
                self._drop(conn)
                conn = None
                self._route.moved(exc)
            except (RedisConnectionError, RedisTimeoutError, *TRANSIENT) as exc:
                node = _address(conn) if conn is not None else None
                self._drop(conn)
                conn = None
                failures += 1
                if failures > self._retries:
                    raise
                self._route.failed(exc, node)  # a cluster re-reads its topology
                threading.Event().wait(backoff(failures))

    def _call_and_wait(
        self, conn: AbstractConnection, packed: bytes, acks: ReplicaAcks, fence: bool
    ) -> Any:
        """The script, (the fence,) then WAIT, in one round trip on one connection."""
        conn.send_packed_command([packed, acks.fence, acks.wait] if fence else [packed, acks.wait])
        replies = []
        error = None
        for _ in range(3 if fence else 2):
            try:
                replies.append(conn.read_response())
            except ResponseError as exc:  # read the other replies: the connection stays usable
                error = error or exc
                replies.append(None)
        if error is not None:
            raise error
        acks.check(replies[-1], _address(conn))
        return replies[0]

    def close(self) -> None:
        """Disconnect the connections of every thread (they reconnect on next use)."""
        for conn in list(self._all):
            conn.disconnect()
