"""The worker pool as a real process tree: `manage.py threadmill`, real signals, real Redis."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.core.management import CommandError, call_command
from django.tasks import TaskResultStatus
from django.test import override_settings

from tests import tasks
from tests.conftest import tasks_setting
from tests.pool_helpers import wait_until
from threadmill.pool.children import usable_cores

SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED


def status(backend, result):
    return backend.get_result(result.id).status


def test_drain_mixed_tasks_then_exit_zero(pool, backend):
    adds = [tasks.add.enqueue(i, 1) for i in range(20)]
    failing = tasks.fail.enqueue("nope")
    coroutine = tasks.async_add.enqueue(2, 3)
    context = tasks.with_context.enqueue(9)
    urgent = tasks.urgent.enqueue("first")
    last = tasks.noop.using(priority=-10, queue_name="low").enqueue()
    p = pool("--processes", "2", "--threads", "2", "--exit-empty")
    assert p.wait(60) == 0, p.tail()
    assert [backend.get_result(r.id).return_value for r in adds] == [i + 1 for i in range(20)]
    failed = backend.get_result(failing.id)
    assert failed.status == FAILED
    assert failed.errors[-1].exception_class_path == "builtins.ValueError"
    assert "nope" in failed.errors[-1].traceback
    assert backend.get_result(coroutine.id).return_value == 5
    ctx = backend.get_result(context.id).return_value
    assert ctx == {"attempt": 1, "id": context.id, "x": 9}
    assert backend.get_result(urgent.id).return_value == "first"
    assert status(backend, last) == SUCCESSFUL
    done = backend.get_result(adds[0].id)
    assert done.started_at >= done.enqueued_at
    assert done.finished_at >= done.started_at
    assert done.last_attempted_at == done.started_at
    assert len(done.worker_ids) == 1
    assert "Queues default,high,low are empty: exiting" in p.log()


def test_idle_pool_starts_a_new_task_within_milliseconds(pool, backend):
    p = pool("--processes", "1", "--threads", "1")
    p.wait_for_workers(1)
    warm = tasks.noop.enqueue()
    wait_until(lambda: status(backend, warm) == SUCCESSFUL, 15)
    time.sleep(0.3)  # let the thread go idle and block on Redis: the case under test
    latencies = []
    for _ in range(5):
        result = tasks.noop.enqueue()
        wait_until(lambda r=result: status(backend, r) == SUCCESSFUL, 5)
        done = backend.get_result(result.id)
        latencies.append((done.started_at - done.enqueued_at).total_seconds())
    assert sorted(latencies)[2] < 0.5, latencies


def test_sigkill_of_a_worker_mid_task_is_resolved_and_the_worker_replaced(pool, backend):
    p = pool("--processes", "1", "--threads", "1", options={"max_attempts": 3})
    [victim] = p.wait_for_workers(1)
    result = tasks.nap.enqueue(1.0, "done")
    wait_until(lambda: status(backend, result) == TaskResultStatus.RUNNING, 15)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: len(backend.get_result(result.id).worker_ids) == 2, 5)
    assert time.monotonic() - killed_at < 3.0
    [replacement] = p.wait_for_workers(1)
    assert replacement != victim
    wait_until(lambda: status(backend, result) == SUCCESSFUL, 15)
    done = backend.get_result(result.id)
    assert done.return_value == "done"
    assert [e.exception_class_path for e in done.errors] == ["threadmill.exceptions.WorkerLost"]
    assert "SIGKILL" in done.errors[0].traceback
    assert "killed by signal SIGKILL" in p.log()


def test_tasks_that_exit_or_segfault_fail_with_worker_lost_and_the_pool_survives(pool, backend):
    exits = tasks.exit_hard.enqueue(3)
    crashes = tasks.segfault.enqueue()
    fine = tasks.add.enqueue(1, 2)
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", options={"max_attempts": 1})
    assert p.wait(60) == 0, p.tail()
    for result, reason in [(exits, "exited with code 3"), (crashes, "SIGSEGV")]:
        failed = backend.get_result(result.id)
        assert failed.status == FAILED
        assert failed.errors[-1].exception_class_path == "threadmill.exceptions.WorkerLost"
        assert reason in failed.errors[-1].traceback
    assert backend.get_result(fine.id).return_value == 3
    assert "could not boot" not in p.log()


def test_sigterm_lets_workers_finish_and_acknowledge_then_exits_zero(pool, backend):
    naps = [tasks.nap.enqueue(0.8, i) for i in range(4)]
    queued = [tasks.noop.enqueue() for _ in range(10)]
    p = pool("--processes", "2", "--threads", "2")
    wait_until(lambda: backend.queue_stats(["default"])[0].running >= 2, 15)
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0, p.tail()
    stats = backend.queue_stats(["default"])[0]
    assert stats.running == 0
    started = [r for r in naps + queued if backend.get_result(r.id).worker_ids]
    assert started
    for result in started:  # finished, once, by the worker that started it
        done = backend.get_result(result.id)
        assert done.status == SUCCESSFUL
        assert len(done.worker_ids) == 1
    assert stats.ready + stats.successful == len(naps) + len(queued)
    assert backend.pools() == []  # unregistered


def test_max_tasks_recycles_workers_without_losing_tasks(pool, backend, tmp_path):
    ledger = tmp_path / "ledger"
    results = [tasks.record.enqueue(str(ledger), i) for i in range(23)]
    p = pool(
        "--processes",
        "1",
        "--threads",
        "1",
        "--max-tasks",
        "5",
        "--max-tasks-jitter",
        "1",
        "--exit-empty",
    )
    assert p.wait(60) == 0, p.tail()
    lines = ledger.read_text().split()
    values, pids = lines[::2], lines[1::2]
    assert sorted(map(int, values)) == list(range(23))  # each ran exactly once
    assert len(set(pids)) >= 4
    assert all(status(backend, r) == SUCCESSFUL for r in results)
    assert "recycling after" in p.log()


def test_ttin_and_ttou_change_the_number_of_worker_processes(pool):
    p = pool("--processes", "1", "--threads", "1")
    p.wait_for_workers(1)
    p.send(signal.SIGTTIN)
    p.wait_for_workers(2)
    p.send(signal.SIGTTIN)
    p.wait_for_workers(3)
    p.send(signal.SIGTTOU)
    p.wait_for_workers(2)
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0


def test_sighup_replaces_every_worker(pool, backend):
    p = pool("--processes", "2", "--threads", "1")
    old = set(p.wait_for_workers(2))
    p.send(signal.SIGHUP)
    wait_until(lambda: len(p.workers()) == 2 and not set(p.workers()) & old, 15)
    result = tasks.add.enqueue(2, 2)
    wait_until(lambda: status(backend, result) == SUCCESSFUL, 15)
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0


def test_heartbeat_shows_the_pool_while_it_runs(pool, backend):
    p = pool(
        "--processes",
        "2",
        "--threads",
        "3",
        options={"heartbeat_interval": 0.2, "heartbeat_ttl": 2},
    )
    pids = set(p.wait_for_workers(2))

    def published():
        pools = backend.pools()
        return pools if pools and {w.pid for w in pools[0].report.workers} == pids else None

    [status] = wait_until(published, 15)
    info = status.report
    assert info.pid == p.pid
    assert (info.processes, info.threads, info.queues) == (2, 3, ["default", "high", "low"])
    assert all(len(w.threads) == 3 for w in info.workers)
    result = tasks.nap.enqueue(1.0)
    wait_until(
        lambda: any(
            t.task_id == result.id for w in backend.pools()[0].report.workers for t in w.threads
        )
    )
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0
    assert backend.pools() == []


def test_a_worker_that_cannot_boot_is_restarted_with_backoff(pool):
    p = pool("--processes", "1", "--threads", "1", env={"THREADMILL_TEST_BOOT_FAIL": "1"})
    p.wait_for_log("could not boot")
    time.sleep(2.5)  # observe the restart rate over a window: the behaviour under test
    attempts = p.log().count("could not boot (")
    assert 1 <= attempts <= 4, p.tail()  # 0.5 s, 1 s, 2 s ... not a tight loop
    assert "THREADMILL_TEST_BOOT_FAIL is set" in p.log()
    assert p.process.poll() is None
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0


def test_a_second_sigterm_stops_at_once_and_requeues_running_tasks(pool, backend):
    long = tasks.nap.enqueue(30)
    p = pool("--processes", "1", "--threads", "1")
    wait_until(lambda: status(backend, long) == TaskResultStatus.RUNNING, 15)
    p.send(signal.SIGTERM)
    p.wait_for_log("stopping gracefully")
    p.send(signal.SIGTERM)
    assert p.wait(15) == 0
    again = backend.get_result(long.id)
    assert again.status == TaskResultStatus.READY  # never left RUNNING
    assert again.errors[-1].exception_class_path == "threadmill.exceptions.WorkerLost"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "nope"], "Unknown backend alias 'nope'. TASKS defines: default"),
        (["--queues", "default", "bogus"], "'bogus' not declared for backend 'default'"),
        (["--processes", "0"], "--processes: must be a whole number of at least 1, got '0'"),
        (["--threads", "x"], "--threads: must be a whole number of at least 1, got 'x'"),
        (["--graceful-timeout", "-1"], "must be a number of seconds above 0"),
        (["--max-tasks-jitter", "3"], "--max-tasks-jitter needs --max-tasks"),
    ],
)
def test_invalid_command_lines_say_what_is_valid(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("threadmill", *args)


def test_a_backend_that_is_not_threadmill_is_refused():
    setting = {
        **tasks_setting("redis://127.0.0.1:1/0"),
        "plain": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
    }
    with (
        override_settings(TASKS=setting),
        pytest.raises(CommandError, match="not a Threadmill backend"),
    ):
        call_command("threadmill", "--backend", "plain")


def test_startup_errors_exit_non_zero(pool):
    p = pool("--backend", "nope")
    assert p.wait(30) != 0
    assert "Unknown backend alias 'nope'" in p.log()


def test_recycling_a_multi_thread_worker_does_not_wait_for_idle_threads(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    p = pool("--processes", "1", "--threads", "3", "--max-tasks", "4")
    [first] = p.wait_for_workers(1)
    results = [tasks.record.enqueue(str(book), i) for i in range(4)]
    wait_until(lambda: all(status(backend, r) == SUCCESSFUL for r in results), 15)
    # Its idle threads are blocked on Redis (block_timeout 10 s); the worker still goes now.
    wait_until(lambda: p.workers() and p.workers() != [first], 5)
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0


def test_parked_threads_leave_nothing_behind_after_recycling_and_a_stop(pool, backend, rclient):
    base = backend.keys.base
    p = pool("--processes", "2", "--threads", "2", "--max-tasks", "3")
    for _ in range(4):  # each round parks every thread, then recycles workers
        results = [tasks.noop.enqueue() for _ in range(6)]
        wait_until(lambda r=results: all(status(backend, x) == SUCCESSFUL for x in r), 20)
        p.wait_for_workers(2)
    idle = rclient.lrange(backend.keys.idle("default"), 0, -1)
    parked = {k.removeprefix(base + "park:") for k in rclient.scan_iter(base + "park:*")}
    assert len(idle) == len(set(idle))
    assert set(idle) <= parked  # only live parks are listed
    p.send(signal.SIGTERM)
    assert p.wait(30) == 0, p.tail()
    leftovers = [
        key
        for pattern in ("park:*", "parks:*", "mbox:*", "leases:*", "q:*:idle")
        for key in rclient.scan_iter(base + pattern)
    ]
    assert leftovers == []


@pytest.mark.parametrize(("args", "lower"), [((), 5), (("--nice", "0"), 0), (("--nice", "12"), 12)])
def test_worker_processes_run_at_a_lower_cpu_priority_than_the_master(pool, backend, args, lower):
    results = [tasks.reports_niceness.enqueue() for _ in range(4)]
    p = pool("--processes", "1", "--threads", "2", "--exit-empty", *args)
    assert p.wait(30) == 0, p.tail()
    # The master runs at this process's nice value; a task thread (the main thread's and
    # every later thread's) at that plus --nice (capped at 19 by the OS).
    expected = min(os.nice(0) + lower, 19)
    assert {backend.get_result(r.id).return_value for r in results} == {expected}
    assert (f"at nice +{lower}" in p.log()) is (lower > 0)


def test_nice_outside_0_to_19_is_a_clear_error(pool):
    p = pool("--nice", "20")
    assert p.wait(30) != 0
    assert "--nice must be 0..19" in p.log()


@pytest.mark.parametrize(("cpus", "cores"), [("0", 1), ("0,1", 2)])
def test_a_worker_spins_for_replies_only_when_its_pool_leaves_a_core_free(
    pool, backend, cpus, cores
):
    # The machines have 2 cores: pinned to one, a 1-process pool has a process per core.
    assert len(os.sched_getaffinity(0)) >= 2
    spins = min(cores, usable_cores()) > 1  # a CPU quota counts too
    result = tasks.spins_for_replies.enqueue()
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", prefix=["taskset", "-c", cpus])
    assert p.wait(30) == 0, p.tail()
    assert backend.get_result(result.id).return_value is spins
    said = "busy-wait for replies" if spins else "block on replies"
    assert f"usable core(s): workers {said}" in p.log()
