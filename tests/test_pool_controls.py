"""Task controls in a real pool: retries with their policy's delays, time limits (sync: the
process is replaced and its other tasks requeued uncharged; async: cancelled in its loop),
cancellation (cooperative and terminate), KeyboardInterrupt, unique claims after a crash,
--exit-empty with a retry pending."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time

from django.tasks import TaskResultStatus

from tests import tasks
from tests.pool_helpers import wait_until
from threadmill import Backoff

SUCCESSFUL, FAILED, RUNNING = (
    TaskResultStatus.SUCCESSFUL,
    TaskResultStatus.FAILED,
    TaskResultStatus.RUNNING,
)
FAST = {"broker_interval": 0.05}


def status(backend, result):
    return backend.get_result(result.id).status


def last_error(backend, result):
    return backend.get_result(result.id).errors[-1]


def replacement_of(p, pid: int) -> int:
    """The worker process that replaced pid. The stopped attempt's outcome is stored before
    its process exits: until then p.workers() is still [pid]."""
    [replacement] = wait_until(
        lambda: (workers := p.workers()) != [pid] and len(workers) == 1 and workers,
        15,
        message=lambda: f"a worker process other than {pid}; log:\n{p.tail()}",
    )
    return replacement


def test_a_flaky_task_succeeds_on_its_third_attempt_after_its_policy_delays(pool, backend):
    result = tasks.flaky.enqueue()
    p = pool("--processes", "1", "--threads", "1", options=FAST)
    wait_until(lambda: status(backend, result) == SUCCESSFUL, 20, message=p.tail)
    done = backend.get_result(result.id)
    assert done.return_value == 3
    assert done.attempts == 3
    # Each error names when its attempt started (Redis time at the lease); the next attempt
    # started no earlier than the policy's delay after it (0.3 s, then 0.6 s).
    starts = [float(re.search(r"started ([\d.]+)", e.traceback).group(1)) for e in done.errors] + [
        done.last_attempted_at.timestamp()
    ]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 0.3 <= gaps[0] < 0.3 + 0.5, gaps
    assert 0.6 <= gaps[1] < 0.6 + 0.5, gaps
    assert [e.exception_class_path for e in done.errors] == ["builtins.ConnectionError"] * 2
    assert backend.queue_stats(["default"])[0].retried_total == 2


def test_an_exception_not_listed_fails_at_once(pool, backend):
    result = tasks.fails_unlisted.enqueue()
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", options=FAST)
    assert p.wait(30) == 0, p.tail()
    failed = backend.get_result(result.id)
    assert failed.status == FAILED
    assert failed.attempts == 1
    assert failed.errors[-1].exception_class_path == "builtins.ValueError"


def test_exit_empty_waits_for_a_pending_retry(pool, backend):
    result = tasks.fails_once.enqueue()
    p = pool("--processes", "1", "--threads", "1", "--exit-empty", options=FAST)
    assert p.wait(30) == 0, p.tail()
    assert backend.get_result(result.id).return_value == "second attempt"


def test_a_sync_task_over_its_time_limit_is_stopped_and_its_sibling_requeued_uncharged(
    pool, backend
):
    p = pool("--processes", "1", "--threads", "2", options=FAST)
    [first_pid] = p.wait_for_workers(1)
    sibling = tasks.nap.enqueue(2.0, "sibling done")
    wait_until(lambda: status(backend, sibling) == RUNNING, 15)
    slow = tasks.sleeps_past_limit.enqueue(30)
    wait_until(lambda: status(backend, slow) == FAILED, 10, message=p.tail)
    failed = backend.get_result(slow.id)
    assert failed.errors[-1].exception_class_path == "threadmill.exceptions.TimeLimitExceeded"
    overrun = (failed.finished_at - failed.started_at).total_seconds()
    assert 1.0 <= overrun < 2.5, overrun  # within about a second of the 1 s limit
    replacement_of(p, first_pid)  # a sync thread cannot be stopped: the process went
    wait_until(lambda: status(backend, sibling) == SUCCESSFUL, 15, message=p.tail)
    done = backend.get_result(sibling.id)
    assert done.return_value == "sibling done"
    assert done.attempts == 1
    assert done.errors == []
    assert backend.get_task(sibling.id).released == 1
    assert "replaced itself to stop a task" in p.log()


def test_an_async_task_over_its_time_limit_is_cancelled_in_its_loop(pool, backend):
    p = pool("--processes", "1", "--threads", "2", options=FAST)
    [pid] = p.wait_for_workers(1)
    slow = tasks.async_sleeps_past_limit.enqueue(30)
    wait_until(lambda: status(backend, slow) == FAILED, 10, message=p.tail)
    failed = backend.get_result(slow.id)
    assert failed.errors[-1].exception_class_path == "threadmill.exceptions.TimeLimitExceeded"
    assert (failed.finished_at - failed.started_at).total_seconds() < 2.5
    after = tasks.add.enqueue(1, 2)
    wait_until(lambda: status(backend, after) == SUCCESSFUL, 10)
    assert p.workers() == [pid]  # the same process carries on


def test_a_task_can_extend_its_own_time_limit(pool, backend):
    result = tasks.extends_itself.enqueue(2.5)
    pool("--processes", "1", "--threads", "1", options=FAST)
    wait_until(lambda: status(backend, result) in (SUCCESSFUL, FAILED), 15)
    assert backend.get_result(result.id).return_value == "extended"


def test_a_running_task_observes_a_cancellation_request(pool, backend, tmp_path):
    marker = tmp_path / "started"
    p = pool("--processes", "1", "--threads", "1", options=FAST)
    [pid] = p.wait_for_workers(1)
    result = tasks.cooperative.enqueue(str(marker))
    wait_until(marker.exists, 15)
    assert backend.cancel([result.id], who="alice") == {result.id: "requested"}
    wait_until(lambda: status(backend, result) == FAILED, 10, message=p.tail)
    error = last_error(backend, result)
    assert error.exception_class_path == "threadmill.exceptions.Cancelled"
    assert "cancelled by alice" in error.traceback
    assert p.workers() == [pid]


def test_terminate_replaces_a_sync_task_s_process(pool, backend):
    p = pool("--processes", "1", "--threads", "1", options=FAST)
    [pid] = p.wait_for_workers(1)
    result = tasks.nap.enqueue(30)
    wait_until(lambda: status(backend, result) == RUNNING, 15)
    backend.cancel([result.id], who="bob", terminate=True)
    wait_until(lambda: status(backend, result) == FAILED, 10, message=p.tail)
    error = last_error(backend, result)
    assert error.exception_class_path == "threadmill.exceptions.Cancelled"
    assert "terminated by bob" in error.traceback
    replacement_of(p, pid)


def test_keyboard_interrupt_is_the_task_s_own_failure_on_its_first_attempt(pool, backend):
    p = pool("--processes", "1", "--threads", "2", options={"max_attempts": 3, **FAST})
    [pid] = p.wait_for_workers(1)
    result = tasks.interrupts.enqueue()
    wait_until(lambda: status(backend, result) == FAILED, 10, message=p.tail)
    failed = backend.get_result(result.id)
    assert failed.attempts == 1
    assert failed.errors[-1].exception_class_path == "builtins.KeyboardInterrupt"
    assert "raise KeyboardInterrupt" in failed.errors[-1].traceback
    assert p.workers() == [pid]


def test_a_unique_task_lost_past_max_attempts_releases_its_claim(pool, backend):
    p = pool("--processes", "1", "--threads", "1", options={"max_attempts": 1, **FAST})
    [pid] = p.wait_for_workers(1)
    first = tasks.unique_nap.enqueue(30, "only")
    wait_until(lambda: status(backend, first) == RUNNING, 15)
    assert tasks.unique_nap.enqueue(30, "only").id == first.id
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: status(backend, first) == FAILED, 10, message=p.tail)
    assert last_error(backend, first).exception_class_path == "threadmill.exceptions.WorkerLost"
    second = tasks.unique_nap.enqueue(0, "only")
    assert second.id != first.id
    wait_until(lambda: status(backend, second) == SUCCESSFUL, 15, message=p.tail)


def test_alias_default_retry_applies_to_tasks_without_their_own(pool, backend, tmp_path):
    policy_path = "tests.test_pool_controls.ALIAS_RETRY"
    result = tasks.fail.enqueue("again")
    p = pool(
        "--processes", "1", "--threads", "1", "--exit-empty",
        options={"retry": policy_path, **FAST},
    )  # fmt: skip
    assert p.wait(30) == 0, p.tail()
    failed = backend.get_result(result.id)
    assert failed.status == FAILED
    assert failed.attempts == 2
    assert len(failed.errors) == 2
    time.sleep(0)  # nothing to wait for: the pool has exited


ALIAS_RETRY = Backoff(max_attempts=2, base=0.05, jitter=False)
