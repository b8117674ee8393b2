"""Redis Sentinel (`redis+sentinel://`): a primary, a replica and a sentinel, all real
processes. The backend and a pool follow a failover by themselves."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.tasks import TaskResultStatus

from tests import tasks
from tests.pool_helpers import wait_until
from tests.redis_server import RedisServer, free_port, redis_server_binary
from threadmill.exceptions import BackendUnavailable

SUCCESSFUL = TaskResultStatus.SUCCESSFUL


class SentinelProcess:
    """`redis-server sentinel.conf --sentinel` watching one primary as service mymaster
    (`valkey-server ... --sentinel` likewise: there is no separate sentinel binary to find)."""

    def __init__(self, primary: RedisServer) -> None:
        self.port = free_port()
        self.dir = primary.dir
        conf = self.dir / f"sentinel-{self.port}.conf"  # sentinel rewrites its config file
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"logfile {self.dir / f'sentinel-{self.port}.log'}\n"
            f"sentinel monitor mymaster 127.0.0.1 {primary.port} 1\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 10000\n"
        )
        self.process = subprocess.Popen(
            [redis_server_binary(), str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def client(self):
        import redis

        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=1)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def primary_port(sentinel: SentinelProcess) -> int | None:
    try:
        with sentinel.client() as c:
            return int(c.sentinel_get_master_addr_by_name("mymaster")[1])
    except Exception:
        return None


def knows_the_replica(sentinel: SentinelProcess) -> bool:
    try:
        with sentinel.client() as c:
            return any(not r["is_sdown"] for r in c.sentinel_slaves("mymaster"))
    except Exception:
        return False


def enqueued(call) -> bool:
    try:
        call()
    except BackendUnavailable:
        return False
    return True


@pytest.mark.sentinel
def test_backend_and_pool_follow_a_sentinel_failover(disposable_redis, make_backend, pool):
    primary = disposable_redis(extra=["--repl-diskless-sync-delay", "0"])
    replica = disposable_redis(extra=["--replicaof", "127.0.0.1", str(primary.port)])
    sentinel = SentinelProcess(primary)
    try:
        wait_until(lambda: primary_port(sentinel) == primary.port, 10)
        wait_until(lambda: knows_the_replica(sentinel), 20)
        url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{sentinel.port}/mymaster/0"
        options = {"socket_timeout": 1, "socket_connect_timeout": 0.5, "retry_attempts": 1}
        backend = make_backend(url, options)  # the first sentinel listed is down: fine
        info = backend.server_info()
        assert (info.topology, info.node) == ("sentinel", f"127.0.0.1:{primary.port}")
        p = pool("--processes", "1", "--threads", "2", url=url, options=options)
        before = [tasks.add.enqueue(i, 1).id for i in range(20)]
        with primary.client() as c:  # on the primary Sentinel names, nowhere else
            assert c.exists(*[backend.keys.task(i) for i in before]) == 20
        wait_until(lambda: all(backend.get_result(i).status == SUCCESSFUL for i in before), 30)
        primary.kill()
        killed_at = time.monotonic()
        wait_until(lambda: enqueued(lambda: tasks.noop.enqueue()), 30, 0.2)
        assert time.monotonic() - killed_at < 20
        assert primary_port(sentinel) == replica.port
        assert backend.server_info().node == f"127.0.0.1:{replica.port}"
        after = [tasks.add.enqueue(i, 2).id for i in range(20)]
        wait_until(lambda: all(backend.get_result(i).status == SUCCESSFUL for i in after), 30)
        assert all(backend.get_result(i).status == SUCCESSFUL for i in before)  # replicated
        assert p.process.poll() is None, p.tail()
    finally:
        sentinel.close()
