"""Retrying tasks (deferred after a failed attempt) apart from plain deferred ones: the
backend's listing of the retrying index, the admin's "Retrying" tab and overview counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import retry_next
from threadmill.backends.records import TaskState

pytestmark = pytest.mark.django_db


def make_deferred_and_retrying(backend) -> tuple[str, list[str]]:
    """One task scheduled for later, two waiting for their retry (due in 10 and 5 minutes)."""
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    tasks.flaky.enqueue()
    first = retry_next(backend, retry_after=600).task_id
    tasks.flaky.enqueue()
    second = retry_next(backend, retry_after=300).task_id
    return later, [second, first]  # by retry time


def test_the_backend_lists_retrying_tasks_by_retry_time(backend):
    later, retrying = make_deferred_and_retrying(backend)
    deferred = backend.list_tasks("default", TaskState.DEFERRED, 0, 10)
    assert deferred.total == 3
    assert [t.id for t in deferred.items] == [*retrying, later]
    page = backend.list_tasks("default", TaskState.DEFERRED, 0, 10, retrying=True)
    assert (page.total, page.state) == (2, TaskState.DEFERRED)
    assert [t.id for t in page.items] == retrying
    assert all(t.retrying and t.attempts == 1 for t in page.items)
    one = backend.list_tasks("default", TaskState.DEFERRED, 1, 1, retrying=True)
    assert [t.id for t in one.items] == retrying[1:]
    named = backend.list_tasks("default", TaskState.DEFERRED, 0, 10, name="noop", retrying=True)
    assert named.items == []
    with pytest.raises(ValueError, match="Only DEFERRED"):
        backend.list_tasks("default", TaskState.READY, 0, 10, retrying=True)
