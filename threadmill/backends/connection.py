"""Redis clients for a backend alias: created per process, configured explicitly.

* One client per (alias settings, process): Django creates a backend object per thread, and
  all threads of a process share its connection pool. A forked child never reuses its
  parent's sockets: the cache is keyed by pid.
* Explicit timeouts everywhere; a second client for blocking waits whose socket timeout is
  longer than the block time, so a quiet queue is never mistaken for a dead server.
* Retries with capped exponential backoff on connection errors and timeouts. That is safe
  only because every Threadmill script is idempotent (enqueue keyed by task id, acquire
  keyed by lease token, acknowledge fenced by it).
"""

from __future__ import annotations

import os
import random
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from threadmill.exceptions import BackendUnavailable, RedisOutOfMemory
from threadmill.options import BackendOptions


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs and pages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _encode(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return b"%d" % value
    return str(value).encode()


def pack_command(parts: list) -> bytes:
    """A command in RESP, as redis-py's packer would write it, without its generality."""
    encoded = [_encode(p) for p in parts]
    chunks = [b"*%d\r\n" % len(encoded)]
    for item in encoded:
        chunks.append(b"$%d\r\n%s\r\n" % (len(item), item))
    return b"".join(chunks)


class HotPath:
    """Script calls made for every task (enqueue, acquire, acknowledge) on a connection
    each thread keeps for itself: it skips the pool's per-command bookkeeping (checkout,
    a non-blocking read to detect stale data, release), a third of the client's cost.

    Retries follow the client's policy: connection errors and timeouts are retried with
    capped exponential backoff (every Threadmill script is idempotent); a script missing
    from the server's cache is loaded and the call repeated.
    """

    def __init__(self, client: redis.Redis, retries: int) -> None:
        self._kwargs = client.connection_pool.connection_kwargs
        self._connection_class = client.connection_pool.connection_class
        self._retries = retries
        self._local = threading.local()
        self._all: weakref.WeakSet = weakref.WeakSet()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connection_class(**self._kwargs)
            self._all.add(conn)
        return conn

    def evalsha(self, script, keys: list[str], args: list) -> object:
        conn = self._connection()
        packed = pack_command(["EVALSHA", script.sha, len(keys), *keys, *args])
        failures = 0
        while True:
            try:
                conn.send_packed_command([packed])
                return conn.read_response()
            except NoScriptError:
                conn.send_command("SCRIPT", "LOAD", script.source)
                conn.read_response()
            except (RedisConnectionError, RedisTimeoutError):
                conn.disconnect()
                failures += 1
                if failures > self._retries:
                    raise
                delay = min(1.0, 0.05 * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
                threading.Event().wait(delay)

    def close(self) -> None:
        """Disconnect the connections of every thread (they reconnect on next use)."""
        for conn in list(self._all):
            conn.disconnect()


@dataclass(frozen=True)
class Clients:
    """The clients of one process: normal commands, blocking waits, the per-task hot path."""

    commands: redis.Redis
    blocking: redis.Redis
    hot: HotPath


_clients: dict[tuple, Clients] = {}
_lock = threading.Lock()


def _make(url: str, options: BackendOptions, socket_timeout: float, retries: int):
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        encoding_errors="replace",  # hand-edited bytes must not break a reply
        socket_timeout=socket_timeout,
        socket_connect_timeout=options.socket_connect_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        max_connections=options.max_connections,
        retry=Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), retries),
        client_name="threadmill",
    )


def get_clients(url: str, options: BackendOptions) -> Clients:
    """This process's clients for url and options (created on first use)."""
    key = (url, options, os.getpid())
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            if any(k[2] != key[2] for k in _clients):  # forked: drop the parent's entries
                for stale in [k for k in _clients if k[2] != key[2]]:
                    del _clients[stale]
            commands = _make(url, options, options.socket_timeout, options.retry_attempts)
            found = Clients(
                commands=commands,
                blocking=_make(url, options, options.block_timeout + options.socket_timeout, 0),
                hot=HotPath(commands, options.retry_attempts),
            )
            _clients[key] = found
        return found


def close_all() -> None:
    """Disconnect every client of this process (tests, shutdown)."""
    with _lock:
        for clients in _clients.values():
            clients.commands.close()
            clients.commands.connection_pool.disconnect()
            clients.blocking.close()
            clients.blocking.connection_pool.disconnect()
            clients.hot.close()
        _clients.clear()


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py's errors into Threadmill's, naming the server (password masked)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise BackendUnavailable(
            f"Redis at {mask_url(url)} did not answer: {exc}. Is redis-server running and "
            "is REDIS_URL right?"
        ) from exc
    except ResponseError as exc:
        if isinstance(exc, OutOfMemoryError) or str(exc).startswith("OOM"):
            raise RedisOutOfMemory(
                f"Redis at {mask_url(url)} is full (maxmemory reached, policy noeviction): "
                "nothing was written. Let workers drain the queue, purge old results, or "
                "raise maxmemory."
            ) from exc
        raise
