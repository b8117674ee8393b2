"""Task controls on the backend (no pool): validation, retries stored by the acknowledgement,
cancel, unique claims, expiry, uncharged release, enqueue on commit. Real Redis."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.tasks import TaskResultStatus, task
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.utils import timezone

from tests import tasks
from tests.pool_helpers import wait_until
from threadmill import Backoff, ThreadmillTask
from threadmill.backends.records import AckOutcome, TaskState
from threadmill.options import BackendOptions

pytestmark = pytest.mark.both_topologies

ALL = ["default", "high", "low"]
_tokens = iter(range(10**9))
ERROR = json.dumps({"exception_class_path": "builtins.ConnectionError", "traceback": "tb"})


def token() -> str:
    return f"w1/{next(_tokens)}"


def lease_one(backend, worker="w1"):
    lease = backend.acquire(worker, ALL, token())
    assert lease is not None
    return lease


def test_task_class_is_threadmill_task_and_unknown_keywords_fail(backend):
    assert backend.task_class is ThreadmillTask
    assert isinstance(tasks.flaky, ThreadmillTask)
    with pytest.raises(TypeError, match="retries"):
        task(retries=3)(tasks.echo.func)


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"timeout": -1}, "timeout must be positive"),
        ({"timeout": timedelta(hours=2)}, "longer than the alias's lease_ttl"),
        ({"expires": "soon"}, "expires must be a timedelta"),
        ({"retry": "no.such.module.policy"}, "cannot be imported"),
        ({"retry": 42}, "retry must be a Backoff"),
        ({"unique": "yes"}, "unique must be True, False or a callable"),
    ],
)
def test_bad_controls_fail_when_the_task_is_decorated(controls, message):
    with pytest.raises(InvalidTask, match=message):
        task(**controls)(tasks.echo.func)


def test_bad_backoff_says_what_is_wrong():
    with pytest.raises(ValueError, match="cannot be negative"):
        Backoff(base=-1)
    with pytest.raises(ValueError, match="max_attempts"):
        Backoff(max_attempts=0)
    with pytest.raises(TypeError, match="exception class"):
        Backoff(on=("ValueError",))


def test_backoff_delays_grow_and_are_capped():
    policy = Backoff(max_attempts=10, base=2, factor=3, max_delay=timedelta(seconds=30))
    assert [policy.delay(n) for n in range(1, 6)] == [2, 6, 18, 30, 30]


def test_alias_options_validate_retry_and_timeout():
    options = BackendOptions.from_settings("a", {"retry": Backoff(), "timeout": 60})
    assert options.timeout == 60.0
    assert callable(options.retry_policy())
    with pytest.raises(ImproperlyConfigured, match=r"must be a threadmill\.Backoff"):
        BackendOptions.from_settings("a", {"retry": 12})
    with pytest.raises(ImproperlyConfigured, match="must not be longer than lease_ttl"):
        BackendOptions.from_settings("a", {"timeout": 7200})
    with pytest.raises(ImproperlyConfigured, match="True or False"):
        BackendOptions.from_settings("a", {"enqueue_on_commit": "yes"})


def test_a_retry_path_that_does_not_import_is_a_check_error(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"retry": "nowhere.policy"})
    [error] = [m for m in backend.check() if m.id == "threadmill.E010"]
    assert "cannot be imported" in error.msg
    assert "OPTIONS['retry']" in error.hint


def test_using_changes_controls_and_keeps_the_rest():
    changed = tasks.flaky.using(timeout=5, priority=3)
    assert changed.timeout == 5
    assert changed.priority == 3
    assert changed.retry is tasks.flaky.retry


# ---- retries ------------------------------------------------------------------------------


def test_a_retry_is_stored_by_the_acknowledgement_as_a_deferred_task(backend):
    result = tasks.echo.enqueue(1)
    lease = lease_one(backend)
    ack = backend.acknowledge(lease, "w1", succeeded=False, value_json=ERROR, retry_after=2.5)
    assert ack.outcome == AckOutcome.OK
    record = backend.get_task(result.id)
    assert record.state == TaskState.DEFERRED
    assert record.retrying
    assert record.attempts == 1
    assert len(record.errors) == 1
    due = (record.run_after - ack.finished_at).total_seconds()
    assert due == pytest.approx(2.5, abs=0.002)
    [stats] = backend.queue_stats(["default"])
    assert (stats.deferred, stats.retrying, stats.retried_total) == (1, 1, 1)
    again = backend.acknowledge(lease, "w1", succeeded=False, value_json=ERROR, retry_after=2.5)
    assert again.outcome == AckOutcome.ALREADY_DONE  # a retried call stores nothing twice
    assert len(backend.get_task(result.id).errors) == 1
    assert backend.get_result(result.id).status == TaskResultStatus.READY


def test_a_due_retry_runs_again_with_its_history(backend):
    result = tasks.echo.enqueue(1)
    lease = lease_one(backend)
    backend.acknowledge(lease, "w1", succeeded=False, value_json=ERROR, retry_after=0.05)
    wait_until(lambda: backend.acquire("w1", ALL, "w1/retry") is not None, 5)
    second = backend.acquire("w1", ALL, "w1/retry")  # idempotent for its token
    assert second.task_id == result.id
    assert second.attempt == 2
    backend.acknowledge(second, "w1", succeeded=True, value_json="7")
    done = backend.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.attempts == 2
    assert [e.exception_class_path for e in done.errors] == ["builtins.ConnectionError"]
    assert backend.queue_stats(["default"])[0].retrying == 0


def test_a_cancel_request_wins_over_a_retry(backend):
    result = tasks.echo.enqueue(1)
    lease = lease_one(backend)
    assert backend.cancel([result.id], who="ops") == {result.id: "requested"}
    backend.acknowledge(lease, "w1", succeeded=False, value_json=ERROR, retry_after=1)
    record = backend.get_task(result.id)
    assert record.state == TaskState.FAILED
    assert record.cancel_requested_by == "ops"


# ---- cancel -------------------------------------------------------------------------------


def test_cancel_ready_deferred_running_and_finished(backend):
    ready = tasks.echo.enqueue(1)
    later = tasks.echo.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(2)
    running = tasks.echo.enqueue(3)
    done = tasks.echo.enqueue(4)
    first = lease_one(backend)
    assert first.task_id == ready.id
    backend.acknowledge(first, "w1", succeeded=True, value_json="1")  # ready is now done
    ready = tasks.echo.enqueue(5)
    held = lease_one(backend)
    assert held.task_id == running.id
    outcomes = backend.cancel([ready.id, later.id, running.id, first.task_id, "nope"], who="ann")
    assert outcomes == {
        ready.id: "cancelled",
        later.id: "cancelled",
        running.id: "requested",
        first.task_id: "SUCCESSFUL",
        "nope": "missing",
    }
    for cancelled in (ready, later):
        result = backend.get_result(cancelled.id)
        assert result.status == TaskResultStatus.FAILED
        assert result.errors[-1].exception_class_path == "threadmill.exceptions.Cancelled"
        assert "cancelled by ann" in result.errors[-1].traceback
    [request] = backend.wait_for_control("w1", 1)
    assert (request.task_id, request.token, request.who) == (running.id, held.token, "ann")
    assert not request.terminate
    assert backend.get_task(running.id).cancel_requested_by == "ann"
    assert backend.get_result(done.id).status == TaskResultStatus.READY  # untouched
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.deferred, stats.running) == (1, 0, 1)


def test_cancel_racing_the_acknowledgement_ends_in_one_state(backend):
    """Whichever lands first, the task ends in exactly one state with nothing left behind."""
    for _ in range(30):
        result = tasks.echo.enqueue(1)
        lease = lease_one(backend)
        outcomes: dict = {}

        def ack(lease=lease, outcomes=outcomes):
            outcomes["ack"] = backend.acknowledge(
                lease, "w1", succeeded=True, value_json="1"
            ).outcome

        def cancel(task_id=result.id, outcomes=outcomes):
            outcomes.update(backend.cancel([task_id], who="x"))

        racers = [threading.Thread(target=ack), threading.Thread(target=cancel)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert outcomes["ack"] == AckOutcome.OK
        assert outcomes[result.id] in ("requested", "SUCCESSFUL")
        assert backend.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    stats = backend.queue_stats(["default"])[0]
    assert (stats.ready, stats.running, stats.successful) == (0, 0, 30)


# ---- unique -------------------------------------------------------------------------------


def test_unique_returns_the_live_task_until_it_finishes(backend):
    first = tasks.unique_nap.enqueue(0, "a")
    second = tasks.unique_nap.enqueue(0, "a")
    other = tasks.unique_nap.enqueue(0, "b")
    assert second.id == first.id
    assert other.id != first.id
    assert backend.get_task(first.id).unique_key
    lease = lease_one(backend)
    assert tasks.unique_nap.enqueue(0, "a").id == first.id  # RUNNING still holds it
    backend.acknowledge(lease, "w1", succeeded=True, value_json='"a"')
    third = tasks.unique_nap.enqueue(0, "a")
    assert third.id != first.id


def test_a_unique_key_callable_groups_calls(backend):
    a = tasks.sync_account.enqueue(7, note="x")
    b = tasks.sync_account.enqueue(7, note="y")
    c = tasks.sync_account.enqueue(8)
    assert a.id == b.id != c.id


def test_unique_claim_is_released_by_cancel_and_purge_and_never_outlives_its_task(backend):
    first = tasks.unique_nap.enqueue(0, "k")
    backend.cancel([first.id], who="t")
    second = tasks.unique_nap.enqueue(0, "k")
    assert second.id != first.id
    backend.purge([second.id])
    third = tasks.unique_nap.enqueue(0, "k")
    assert third.id != second.id
    # The record vanishes behind Redis's back (data loss, a hand-run DEL): the claim left
    # behind points to no live task, so it blocks nothing.
    with backend.store.translate():
        backend.store.client.delete(backend.keys.task(third.id))
    fourth = tasks.unique_nap.enqueue(0, "k")
    assert fourth.id != third.id


def test_racing_producers_create_one_unique_task(backend):
    ids: list[str] = []
    lock = threading.Lock()

    def produce():
        mine = [tasks.unique_nap.enqueue(0, "race").id for _ in range(1000)]
        with lock:
            ids.extend(mine)

    producers = [threading.Thread(target=produce) for _ in range(2)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    assert len(ids) == 2000
    assert len(set(ids)) == 1
    assert backend.queue_stats(["default"])[0].ready == 1


# ---- expires, release ---------------------------------------------------------------------


def test_a_task_that_could_not_start_in_time_expires(backend):
    late = tasks.expiring.enqueue()
    prompt = tasks.echo.enqueue("after")
    time.sleep(0.3)  # let the expiry pass: what is under test is the state at lease time
    lease = lease_one(backend)
    assert lease.task_id == prompt.id  # the expired one was skipped, not run
    result = backend.get_result(late.id)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == "threadmill.exceptions.Expired"
    assert result.attempts == 0


def test_a_fresh_task_with_expires_runs(backend):
    # An expiry of seconds, not tasks.expiring's 0.2 s: on a loaded CI machine (a cluster's
    # first calls) the lease can come later than 0.2 s after the enqueue, and then the task
    # has rightly expired.
    result = tasks.expiring.using(expires=timedelta(seconds=5)).enqueue()
    assert lease_one(backend).task_id == result.id


def test_an_uncharged_release_gives_the_attempt_back(backend):
    result = tasks.echo.enqueue(1)
    lease_one(backend, "w9")
    outcomes = backend.resolve_worker("w9", "replaced", charge=False)
    assert outcomes == {result.id: "released"}
    record = backend.get_task(result.id)
    assert record.state == TaskState.READY
    assert (record.attempts, record.worker_ids, record.errors, record.released) == (0, [], [], 1)


def test_timeout_reaches_the_lease(backend):
    tasks.sleeps_past_limit.enqueue()
    lease = lease_one(backend)
    assert lease.timeout == 1.0
    deadline = backend.get_task(lease.task_id).lease_deadline
    assert 5 < (deadline - lease.acquired_at).total_seconds() < 7  # limit + grace


# ---- enqueue on commit --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_waits_for_the_commit_and_drops_on_rollback(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"enqueue_on_commit": True})
    with transaction.atomic():
        held = tasks.echo.enqueue("committed")
        with pytest.raises(TaskResultDoesNotExist):
            backend.get_result(held.id)  # not in Redis before the commit
    assert backend.get_result(held.id).status == TaskResultStatus.READY
    dropped = []

    def rolled_back():
        with transaction.atomic():
            dropped.append(tasks.echo.enqueue("rolled back"))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        rolled_back()
    [dropped] = dropped
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(dropped.id)
    assert backend.queue_stats(["default"])[0].ready == 1
    outside = tasks.echo.enqueue("autocommit")  # no transaction: written at once
    assert backend.get_result(outside.id).status == TaskResultStatus.READY


def test_a_plain_task_s_record_carries_no_option_fields(backend, rclient):
    """Task options cost a plain task nothing: its record has no fields for them."""
    plain = tasks.echo.enqueue(1)
    limited = tasks.sleeps_past_limit.enqueue()
    assert not {"limits", "unique", "cancel"} & set(rclient.hkeys(backend.keys.task(plain.id)))
    assert rclient.hget(backend.keys.task(limited.id), "limits").startswith("1000::")


def test_a_retry_s_expiry_counts_from_its_new_due_time(backend):
    # The retry is due after the expiry counted from the enqueue has passed (1.7 s > 1.5 s),
    # so it can only be leased when its expiry counts from its new due time. 1.5 s leaves a
    # loaded machine time for the first lease, and for the lease once the retry is due.
    result = tasks.expiring.using(expires=1.5).enqueue()
    lease = lease_one(backend)
    backend.acknowledge(lease, "w1", succeeded=False, value_json=ERROR, retry_after=1.7)
    again = None

    def leased():
        nonlocal again
        again = backend.acquire("w1", ALL, token())
        return again is not None

    wait_until(leased, 10)  # due again: leased at once, not failed as expired
    assert again.task_id == result.id


def test_using_cannot_change_the_retry_policy_the_worker_would_ignore():
    with pytest.raises(TypeError, match="retry"):
        tasks.flaky.using(retry=None)
