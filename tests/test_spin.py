"""The reply_spin option: an enqueue and a worker's per-task call busy-wait briefly for their
reply, back off when the reply comes later; an idle thread's calls never spin."""

from __future__ import annotations

import os
import select
import socket
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from threadmill.backends import spin as reply_spin
from threadmill.backends.redis import RedisTaskBackend
from threadmill.backends.spin import MAX_SKIPPED, ReplySpin
from threadmill.pool.children import cgroup_cpu_limit, usable_cores

from . import tasks


@pytest.fixture
def socket_pair():
    left, right = socket.socketpair()
    left.settimeout(5)  # as redis-py's sockets: in timeout mode, not non-blocking
    yield left, right
    left.close()
    right.close()


def test_a_reply_that_is_there_ends_the_spin_at_once(socket_pair):
    left, right = socket_pair
    right.sendall(b"+OK\r\n")
    spin = ReplySpin(5.0)  # a miss would take 5 s
    assert spin.wait(left) is True
    assert left.recv(10) == b"+OK\r\n"  # the spin only watched: the reply is still there


def test_a_reply_that_lands_during_the_spin_ends_it(socket_pair):
    left, right = socket_pair
    timer = threading.Timer(0.05, right.sendall, [b"+OK\r\n"])
    timer.start()
    try:
        assert ReplySpin(5.0).wait(left) is True
    finally:
        timer.join()


def test_misses_back_off_exponentially_and_a_hit_resets_them(socket_pair):
    left, right = socket_pair
    spin = ReplySpin(0.0005)
    assert spin.wait(left) is False  # nothing comes: the budget is spent
    assert spin.skip == 2
    assert [spin.wait(left), spin.wait(left)] == [None, None]  # skipped, not spun
    assert spin.wait(left) is False
    assert spin.skip == 4
    for _ in range(4):
        assert spin.wait(left) is None
    right.sendall(b"+OK\r\n")
    assert spin.wait(left) is True
    assert (spin.misses, spin.skip) == (0, 0)
    left.recv(10)
    for _ in range(20):  # a long run of misses skips at most MAX_SKIPPED calls
        spin.skip = 0
        spin.wait(left)
    assert spin.skip == MAX_SKIPPED
    assert spin.misses == 8


def test_a_socket_it_cannot_watch_is_not_spun_on():
    assert ReplySpin(1.0).wait(None) is None


def test_without_the_systems_select_poll_it_does_not_spin(socket_pair, monkeypatch):
    socket_pair[1].sendall(b"+OK\r\n")
    monkeypatch.delattr(select, "poll")  # Windows
    assert ReplySpin(1.0).wait(socket_pair[0]) is None

    class CooperativePoll:  # what gevent's monkey-patching puts in its place
        __module__ = "gevent.select"

    monkeypatch.setattr(select, "poll", CooperativePoll, raising=False)
    assert ReplySpin(1.0).wait(socket_pair[0]) is None


def test_a_socket_closed_since_the_send_is_not_spun_on(socket_pair):
    socket_pair[0].close()
    assert ReplySpin(1.0).wait(socket_pair[0]) is None


def test_a_spin_sees_a_real_redis_reply(backend):
    conn = backend.store.clients().hot._route.connect()
    try:
        conn.send_command("PING")
        assert ReplySpin(1.0).wait(conn._sock) is True  # a miss would take a second
        assert conn.read_response() in (True, b"PONG", "PONG")
    finally:
        conn.disconnect()


def test_a_process_that_forbids_spinning_does_not_spin(backend):
    tasks.noop.enqueue()
    spinner = backend.store.clients().hot._local.spin
    spinner.skip = 100  # a call that consults the spinner counts this down
    reply_spin.allow(False)
    try:
        result = tasks.noop.enqueue()
        lease = backend.acquire("w1", ["default"], "tok-1")
        backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    finally:
        reply_spin.allow(True)
    assert spinner.skip == 100
    assert backend.get_result(result.id).status == "READY"  # the first one was leased


def test_reply_spin_is_validated():
    params = {"REDIS_URL": "redis://localhost:1/0"}
    assert RedisTaskBackend("x", params).config.reply_spin == 0.0001
    off = RedisTaskBackend("x", {**params, "OPTIONS": {"reply_spin": 0}})
    assert off.config.reply_spin == 0
    with pytest.raises(ImproperlyConfigured, match=r"reply_spin.*at least 0"):
        RedisTaskBackend("x", {**params, "OPTIONS": {"reply_spin": -1}})


def test_per_task_calls_spin_and_an_idle_threads_calls_do_not(backend):
    hot = backend.store.clients().hot
    result = tasks.noop.enqueue()
    spin = hot._local.spin
    assert spin is not None
    assert spin.budget_ns == 100_000
    # A call that consults the spinner counts skip down (once per attempt: a script's
    # first call on a server is sent again after NOSCRIPT).
    spin.skip = 100
    lease = backend.acquire("w1", ["default"], "tok-1")
    assert lease.task_id == result.id
    assert spin.skip < 100
    before = spin.skip
    backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    assert spin.skip < before
    before = spin.skip
    assert backend.park("w1", ["default"], "tok-2", "mbox-1") is None  # nothing to run
    assert backend.unpark("w1", "mbox-1", "tok-2") is None
    assert spin.skip == before
    assert backend.get_result(result.id).status == "SUCCESSFUL"


def test_reply_spin_zero_never_spins(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"reply_spin": 0})
    tasks.noop.enqueue()
    assert getattr(backend.store.clients().hot._local, "spin", None) is None


def test_an_enqueue_whose_reply_is_late_misses_the_spin_and_still_succeeds(
    make_backend, disposable_redis
):
    server = disposable_redis(appendonly=False)
    backend = make_backend(server.url, {"reply_spin": 0.001})
    tasks.noop.enqueue()  # connected, warm
    spin = backend.store.clients().hot._local.spin
    # On a loaded machine the warm-up's own reply may have missed the spin too: start clean.
    spin.misses = spin.skip = 0
    server.pause()  # the reply cannot come within the 1 ms spin
    threading.Timer(0.2, server.resume).start()
    result = tasks.noop.enqueue()
    assert spin.misses == 1
    assert spin.skip == 2
    assert backend.get_result(result.id).status == "READY"


@pytest.mark.parametrize(
    ("cpu_max", "limit"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("50000 100000\n", 0.5), (None, None)],
)
def test_a_cgroup_cpu_quota_caps_the_usable_cores(tmp_path, cpu_max, limit):
    # A cgroup v2 tree as a container sees it: its own cgroup at the root.
    if cpu_max is not None:
        (tmp_path / "cpu.max").write_text(cpu_max)
    assert cgroup_cpu_limit(tmp_path) == limit
    affinity = len(os.sched_getaffinity(0))
    expected = affinity if limit is None else min(affinity, max(1, int(limit)))
    assert usable_cores(tmp_path) == expected


def test_the_tightest_cgroup_quota_above_the_process_counts(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "a" / "cpu.max").write_text("200000 100000\n")  # e.g. the pod's limit
    (tmp_path / "a" / "b" / "cpu.max").write_text("max 100000\n")  # the container's: none
    assert cgroup_cpu_limit(tmp_path, "/a/b") == 2.0
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cgroup_cpu_limit(tmp_path, "/a/b") == 0.5
    assert cgroup_cpu_limit(tmp_path, "/") == 0.5
