"""A worker's registry of the attempts it runs (`threadmill.pool.limits.Attempts`): a
cancellation request that arrives before its attempt has started is kept for it, on a real
Redis (both topologies)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests import tasks
from tests.test_task_controls import lease_one
from threadmill.backends.records import TaskState


@pytest.mark.django_db  # run_lease checks the thread's database connections, as workers do
@pytest.mark.parametrize("terminate", [False, True])
def test_a_cancel_that_arrives_before_its_attempt_starts_is_kept_for_it(
    backend, tmp_path, terminate
):
    """Redis marks a task RUNNING when it hands the lease over, a moment before the worker's
    thread registers the attempt: a request landing in that gap must not be dropped. The
    attempt ends Cancelled without running, and a request for another attempt is ignored."""
    from threadmill.exceptions import Cancelled
    from threadmill.pool.limits import Attempts
    from threadmill.pool.runner import run_lease

    book = tmp_path / "ledger"
    result = tasks.ledger_nap.enqueue(str(book))
    lease = lease_one(backend)
    assert backend.cancel([result.id], who="ops", terminate=terminate)[result.id] == "requested"
    attempts = Attempts(backend, "w1", None, before_exit=lambda code: None)
    [request] = backend.wait_for_control("w1", 1)
    attempts.receive(replace(request, token="an-earlier-lease"))  # another attempt's
    assert attempts.start(0, lease).cancel_requested_by == ""  # ignored
    attempts.finish(0)
    attempts.receive(replace(request, task_id="other-task"))  # never claimed: harmless
    attempts.receive(request)  # the gap: no attempt registered yet
    running = attempts.start(0, lease)
    assert running.cancel_requested_by == "ops"
    outcome = run_lease(lease, "default", type(backend), 10_000, running=running)
    attempts.finish(0)
    assert not outcome.succeeded
    assert isinstance(outcome.exception, Cancelled)
    assert not book.exists()  # the task never ran
    backend.acknowledge(lease, "w1", succeeded=False, value_json=outcome.value_json)
    record = backend.get_task(result.id)
    assert record.state == TaskState.FAILED
    assert record.last_error.exception_class_path == "threadmill.exceptions.Cancelled"
    tasks.ledger_nap.enqueue(str(book))  # the next task of this worker is not touched
    assert attempts.start(1, lease_one(backend)).cancel_requested_by == ""
