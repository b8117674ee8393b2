"""Searching task lists: a TaskFilter (path, exception class, worker, time range, argument
substring) combined, with a bounded scan that says where to continue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import next_redis_millisecond
from tests.search_helpers import fail_with, make_failed
from threadmill.backends import inspection
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

pytestmark = pytest.mark.both_topologies  # standalone and Redis Cluster

FAILED = TaskState.FAILED


def ids_of(page) -> set[str]:
    return {r.id for r in page.items}


def test_each_part_of_a_filter_narrows_the_list(backend):
    value_errors = make_failed(backend, 3, "builtins.ValueError", "w1", arg="alice")
    key_errors = make_failed(backend, 2, "builtins.KeyError", "w2", arg="bob")
    timeouts = make_failed(
        backend, 2, "myapp.errors.Timeout", "w1", arg="bob", task=tasks.sync_account
    )
    everything = set(value_errors + key_errors + timeouts)

    def search(**parts) -> set[str]:
        page = backend.list_tasks("default", FAILED, 0, 50, filter=TaskFilter(**parts))
        assert page.filter == TaskFilter(**parts)
        return ids_of(page)

    assert search() == everything
    assert search(error="KeyError") == set(key_errors)
    assert search(error="builtins.KeyError") == set(key_errors)
    assert search(error="Timeout") == set(timeouts)
    assert search(error="Key") == set()  # a class is matched whole, not as a substring
    assert search(worker="w2") == set(key_errors)
    assert search(args="alice") == set(value_errors)
    assert search(path="sync_account") == set(timeouts)
    assert search(args="bob", worker="w1") == set(timeouts)  # parts combine (and)
    assert search(args="bob", worker="w1", error="KeyError") == set()


def test_a_time_range_bounds_when_tasks_finished_or_were_enqueued(backend):
    early = make_failed(backend, 2)
    next_redis_millisecond(backend)
    seconds, micros = backend.store.client.time()
    middle = datetime.fromtimestamp(seconds + micros // 1000 / 1000, tz=UTC)
    next_redis_millisecond(backend)
    late = make_failed(backend, 2)
    page = backend.list_tasks("default", FAILED, 0, 50, filter=TaskFilter(since=middle))
    assert ids_of(page) == set(late)
    page = backend.list_tasks("default", FAILED, 0, 50, filter=TaskFilter(until=middle))
    assert ids_of(page) == set(early)
    ready = [tasks.noop.enqueue().id for _ in range(2)]
    hour = timedelta(hours=1)
    window = TaskFilter(since=timezone.now() - hour, until=timezone.now() + hour)
    assert ids_of(backend.list_tasks("default", TaskState.READY, 0, 50, filter=window)) == set(
        ready
    )
    gone = TaskFilter(until=timezone.now() - hour)
    assert backend.list_tasks("default", TaskState.READY, 0, 50, filter=gone).items == []


def test_a_search_scans_a_bounded_window_and_says_where_to_continue(backend):
    wanted = make_failed(backend, 2, "builtins.KeyError")  # oldest: the end of the list
    make_failed(backend, 30, "builtins.ValueError")
    flt = TaskFilter(error="KeyError")
    first = backend.list_tasks("default", FAILED, 0, 10, filter=flt, scan=20)
    assert first.items == []  # the 20 newest are all ValueErrors
    assert (first.next_offset, first.total) == (20, 32)
    rest = backend.list_tasks("default", FAILED, first.next_offset, 10, filter=flt, scan=20)
    assert ids_of(rest) == set(wanted)
    assert rest.next_offset == 32


def test_a_full_page_stops_the_scan_at_the_last_match(backend):
    make_failed(backend, 6, "builtins.KeyError")
    page = backend.list_tasks("default", FAILED, 0, 2, filter=TaskFilter(error="KeyError"))
    assert len(page.items) == 2
    assert page.next_offset == 2


def test_a_path_filter_matches_part_of_the_task_path(backend):
    make_failed(backend, 1)
    other = tasks.sync_account.enqueue("z")
    fail_with(backend, other)
    page = backend.list_tasks("default", FAILED, 0, 10, filter=TaskFilter(path="sync_account"))
    assert ids_of(page) == {other.id}
    assert page.name == "sync_account"


def test_the_retrying_list_can_be_searched(backend):
    result = tasks.echo.enqueue("carol")
    lease = backend.acquire("w1", ["default"], "t-r")
    backend.acknowledge(
        lease,
        "w1",
        succeeded=False,
        value_json='{"exception_class_path": "builtins.OSError", "traceback": "x"}',
        retry_after=600,
    )
    deferred = TaskState.DEFERRED
    found = backend.list_tasks(
        "default", deferred, 0, 10, retrying=True, filter=TaskFilter(error="OSError", args="carol")
    )
    assert ids_of(found) == {result.id}
    none = backend.list_tasks(
        "default", deferred, 0, 10, retrying=True, filter=TaskFilter(error="KeyError")
    )
    assert none.items == []


def test_a_page_scan_is_made_of_short_calls_with_the_same_result(backend, monkeypatch):
    wanted = make_failed(backend, 3, "builtins.KeyError")
    make_failed(backend, 20, "builtins.ValueError")
    flt = TaskFilter(error="KeyError")
    whole = backend.list_tasks("default", FAILED, 0, 10, filter=flt, scan=30)
    calls = []
    real = backend.store.run
    monkeypatch.setattr(inspection, "SEARCH_STEP", 4)
    monkeypatch.setattr(
        backend.store, "run", lambda call, **kw: calls.append(call) or real(call, **kw)
    )
    steps = backend.list_tasks("default", FAILED, 0, 10, filter=flt, scan=30)
    assert ids_of(steps) == ids_of(whole) == set(wanted)
    assert steps.next_offset == whole.next_offset == 23
    assert len(calls) == 6  # 23 positions, 4 a call
    bounded = backend.list_tasks("default", FAILED, 0, 10, filter=flt, scan=6)
    assert bounded.next_offset == 6  # the page's bound holds across calls


def test_error_groups_count_the_newest_failures_by_class_within_the_scan(backend):
    make_failed(backend, 3, "myapp.errors.Timeout")
    make_failed(backend, 5, "builtins.KeyError")
    make_failed(backend, 2, "myapp.errors.Timeout")  # the newest
    groups = backend.error_groups("default")
    assert (groups.total, groups.examined) == (10, 10)
    # most frequent first; a tie keeps the class met first, newest first
    assert groups.groups == [("myapp.errors.Timeout", 5), ("builtins.KeyError", 5)]
    newest = backend.error_groups("default", scan=4)  # bounded: the newest 4 only
    assert (newest.total, newest.examined) == (10, 4)
    assert newest.groups == [("myapp.errors.Timeout", 2), ("builtins.KeyError", 2)]
    assert backend.error_groups("default", TaskState.READY).groups == []
    tasks.noop.enqueue()
    assert backend.error_groups("default", TaskState.READY).groups == [("", 1)]


def test_error_groups_are_counted_in_short_calls_with_the_same_result(backend, monkeypatch):
    make_failed(backend, 7, "builtins.KeyError")
    make_failed(backend, 5, "myapp.errors.Timeout")
    whole = backend.error_groups("default")
    calls = []
    real = backend.store.run
    monkeypatch.setattr(inspection, "SEARCH_STEP", 5)
    monkeypatch.setattr(
        backend.store, "run", lambda call, **kw: calls.append(call) or real(call, **kw)
    )
    steps = backend.error_groups("default")
    assert steps == whole
    assert whole.groups == [("builtins.KeyError", 7), ("myapp.errors.Timeout", 5)]
    assert len(calls) == 3  # 12 tasks, 5 a call
    calls.clear()
    bounded = backend.error_groups("default", scan=7)
    assert (bounded.examined, bounded.total, len(calls)) == (7, 12, 2)
    assert bounded.groups == [("myapp.errors.Timeout", 5), ("builtins.KeyError", 2)]
