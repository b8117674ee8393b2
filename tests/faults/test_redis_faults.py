"""Consistency when Redis fails: kill -9, restart without persistence, a stall (SIGSTOP),
connections cut during acknowledge, a full Redis. Real redis-servers, a real pool."""

from __future__ import annotations

import threading
import time

from django.tasks import TaskResultStatus

from tests import tasks
from tests.faults import ledger
from tests.faults.proxy import FaultProxy
from tests.pool_helpers import wait_until
from tests.test_backend_states import ALL, token
from threadmill.backends.records import AckOutcome, TaskState
from threadmill.exceptions import BackendUnavailable, RedisOutOfMemory

SUCCESSFUL = TaskResultStatus.SUCCESSFUL


class Producer(threading.Thread):
    """Enqueues ledger tasks in a loop; an id counts as acknowledged only once enqueue()
    returned. Records how long each call took and how many raised (unknown outcome)."""

    def __init__(self, book, pause: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.book, self.pause = str(book), pause
        self.acknowledged: list[str] = []
        self.unknown = 0
        self.errors: list[Exception] = []
        self.longest_call = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.acknowledged.append(tasks.ledger_nap.enqueue(self.book).id)
            except BackendUnavailable as exc:
                self.unknown += 1
                self.errors.append(exc)
                self.stop.wait(0.1)
            self.longest_call = max(self.longest_call, time.monotonic() - started)
            self.stop.wait(self.pause)

    def finish(self) -> None:
        self.stop.set()
        self.join(30)


def drained(backend, ids) -> bool:
    return all(backend.get_result(i).status == SUCCESSFUL for i in ids)


def test_redis_kill9_with_appendfsync_always_loses_no_acknowledged_task(
    disposable_redis, make_backend, pool, tmp_path
):
    server = disposable_redis(appendfsync="always")
    options = {"socket_timeout": 1, "socket_connect_timeout": 0.5, "retry_attempts": 1}
    backend = make_backend(server.url, options)
    book = tmp_path / "ledger"
    p = pool("--processes", "2", "--threads", "2", url=server.url, options=options)
    p.wait_for_workers(2)
    producer = Producer(book)
    producer.start()
    wait_until(lambda: len(producer.acknowledged) > 100, 20)
    server.kill()
    wait_until(lambda: producer.unknown > 0, 10)  # producers fail fast, they do not hang
    assert p.process.poll() is None  # the pool survives the outage
    server.start()  # same port, same data directory
    count = len(producer.acknowledged)
    wait_until(lambda: len(producer.acknowledged) > count + 50, 20)  # producer reconnected
    producer.finish()
    wait_until(lambda: drained(backend, producer.acknowledged), 60)  # pool reconnected
    report = ledger.check(backend, producer.acknowledged, book, unknown=producer.unknown)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == len(producer.acknowledged)
    assert all(report.executions[i] == 1 for i in producer.acknowledged)


def test_redis_restart_without_persistence_is_survived_and_reported(
    disposable_redis, make_backend, pool
):
    server = disposable_redis(appendonly=False)
    options = {"heartbeat_interval": 0.3, "heartbeat_ttl": 2, "socket_timeout": 1}
    backend = make_backend(server.url, options)
    p = pool("--processes", "1", "--threads", "2", url=server.url, options=options)
    before = [tasks.add.enqueue(i, i).id for i in range(20)]
    wait_until(lambda: drained(backend, before), 20)
    server.restart(flush_data=True)  # what a restart with persistence off does
    p.wait_for_log("Redis data loss detected", 15)
    assert p.process.poll() is None
    ids = {m.id for m in backend.check()}
    assert {"threadmill.W002", "threadmill.W003"} <= ids
    after = tasks.add.enqueue(1, 1)  # and the pool keeps working
    wait_until(lambda: backend.get_result(after.id).status == SUCCESSFUL, 20)


def test_redis_stall_causes_no_crash_no_duplicate_and_no_spurious_expiry(
    disposable_redis, make_backend, pool, tmp_path
):
    server = disposable_redis()
    options = {
        "socket_timeout": 1,
        "socket_connect_timeout": 1,
        "retry_attempts": 1,
        "lease_ttl": 5,
        "heartbeat_interval": 0.5,
        "heartbeat_ttl": 3,
    }
    backend = make_backend(server.url, options)
    book = tmp_path / "ledger"
    p = pool("--processes", "2", "--threads", "2", url=server.url, options=options)
    p.wait_for_workers(2)
    producer = Producer(book, pause=0.01)
    producer.start()
    wait_until(lambda: len(producer.acknowledged) > 50, 20)
    server.pause()
    wait_until(lambda: producer.unknown > 0, 10)
    time.sleep(6)  # a stall longer than the lease: the fault under test
    server.resume()
    count = len(producer.acknowledged)
    wait_until(lambda: len(producer.acknowledged) > count + 50, 20)
    producer.finish()
    assert producer.longest_call < 5  # (1 + retry_attempts) x socket_timeout + backoff
    wait_until(lambda: drained(backend, producer.acknowledged), 60)
    assert p.process.poll() is None
    report = ledger.check(backend, producer.acknowledged, book, unknown=producer.unknown)
    report.assert_consistent()
    assert report.statuses[SUCCESSFUL] == len(producer.acknowledged)
    assert all(report.executions[i] == 1 for i in producer.acknowledged)
    assert "AcknowledgementTimeout" not in p.log()


def test_connections_killed_during_acknowledge_run_nothing_twice(
    disposable_redis, make_backend, pool, tmp_path
):
    server = disposable_redis()
    backend = make_backend(server.url)
    book = tmp_path / "ledger"
    ids = [r.id for r in backend.enqueue_many(tasks.ledger_nap, [((str(book),), {})] * 400)]
    stop = threading.Event()

    def killer():
        with server.client() as admin:
            while not stop.wait(0.03):
                admin.client_kill_filter(_type="normal", skipme=True)

    thread = threading.Thread(target=killer, daemon=True)
    p = pool("--processes", "2", "--threads", "2", url=server.url)
    thread.start()
    try:
        wait_until(lambda: drained(backend, ids), 90)
    finally:
        stop.set()
        thread.join(5)
    report = ledger.check(backend, ids, book)
    report.assert_consistent()
    assert all(report.executions[i] == 1 for i in ids)
    assert p.process.poll() is None


def test_acknowledge_whose_reply_is_lost_is_retried_and_stored_once(disposable_redis, make_backend):
    server = disposable_redis()
    proxy = FaultProxy(server.port)
    try:
        backend = make_backend(proxy.url)
        result = tasks.add.enqueue(2, 3)
        lease = backend.acquire("w1", ALL, token())
        backend.store.client.script_load(
            backend.store.scripts.lua["acknowledge"].source
        )  # no NOSCRIPT detour
        proxy.mode = "cut_reply"  # the ack reaches Redis, its reply never comes back
        ack = backend.acknowledge(lease, "w1", succeeded=True, value_json="5")
        assert proxy.cut == 1
        assert ack.outcome == AckOutcome.ALREADY_DONE  # the retry learnt it was stored
        done = backend.get_result(result.id)
        assert (done.status, done.return_value) == (SUCCESSFUL, 5)
        assert backend.queue_stats(["default"])[0].successful_total == 1
    finally:
        proxy.close()


def test_an_idle_worker_whose_wake_up_is_lost_still_starts_the_task(
    disposable_redis, make_backend, pool
):
    server = disposable_redis()
    proxy = FaultProxy(server.port)
    options = {"block_timeout": 1.0, "socket_timeout": 1, "retry_attempts": 1}
    try:
        backend = make_backend(server.url, options)
        p = pool("--processes", "1", "--threads", "1", url=proxy.url, options=options)
        p.wait_for_workers(1)
        warm = tasks.noop.enqueue()
        wait_until(lambda: backend.get_result(warm.id).status == SUCCESSFUL, 20)
        proxy.mode = "stall"  # replies (the wake-up) do not arrive
        result = tasks.noop.enqueue()
        time.sleep(2)  # the stall: what the test injects
        proxy.mode = "pass"
        wait_until(lambda: backend.get_result(result.id).status == SUCCESSFUL, 15)
    finally:
        proxy.close()


def test_full_redis_refuses_enqueue_cleanly_and_the_pool_still_drains(
    disposable_redis, make_backend, pool
):
    server = disposable_redis()
    backend = make_backend(server.url, {"retry_attempts": 0})
    ids = [r.id for r in backend.enqueue_many(tasks.echo, [(("x" * 1000,), {})] * 200)]
    client = server.client()
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + 256 * 1024)
    refused = None
    for _ in range(10_000):
        try:
            ids.append(tasks.echo.enqueue("x" * 1000).id)
        except RedisOutOfMemory as exc:
            refused = exc
            break
    assert refused is not None
    assert "maxmemory" in str(refused)
    stats = backend.queue_stats(["default"])[0]
    records = sum(1 for _ in client.scan_iter(match="*:task:*", count=1000))
    assert records == stats.ready == len(ids)  # nothing half-written
    p = pool("--processes", "1", "--threads", "2", "--exit-empty", url=server.url)
    assert p.wait(60) == 0, p.tail()  # acknowledgements work at the limit
    assert drained(backend, ids)
    assert backend.purge_batch("default", TaskState.SUCCESSFUL)[0] > 0
    client.config_set("maxmemory", 0)
    tasks.noop.enqueue()
    client.close()
