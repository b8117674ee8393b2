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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError
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


@dataclass(frozen=True)
class Clients:
    """The two clients of one process: normal commands and blocking waits."""

    commands: redis.Redis
    blocking: redis.Redis


_clients: dict[tuple, Clients] = {}
_lock = threading.Lock()


def _make(url: str, options: BackendOptions, socket_timeout: float, retries: int):
    return redis.Redis.from_url(
        url,
        decode_responses=True,
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
            found = Clients(
                commands=_make(url, options, options.socket_timeout, options.retry_attempts),
                blocking=_make(url, options, options.block_timeout + options.socket_timeout, 0),
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
