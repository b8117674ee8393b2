"""Retrying tasks (deferred after a failed attempt) apart from plain deferred ones: the
backend's listing of the retrying index, the admin's "Retrying" tab and overview counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import retry_next
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

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
    named = backend.list_tasks(
        "default", TaskState.DEFERRED, 0, 10, filter=TaskFilter(path="noop"), retrying=True
    )
    assert named.items == []
    with pytest.raises(ValueError, match="Only DEFERRED"):
        backend.list_tasks("default", TaskState.READY, 0, 10, retrying=True)


BASE = "/admin/threadmill/task/"


def list_path(state: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/"


def test_the_retrying_tab_lists_only_tasks_waiting_for_a_retry(admin_client, backend):
    later, retrying = make_deferred_and_retrying(backend)
    response = admin_client.get(list_path("retrying"))
    assert response.status_code == 200
    html = response.content.decode()
    shown = re.findall(r'<tr data-task-id="([^"]+)"', html)
    assert shown == retrying
    assert 'of <strong class="tm-total">2</strong> retrying tasks' in html
    assert "By retry time" in html
    assert "Next retry" in html
    assert "ValueError" in html  # the last error of each
    tabs = re.findall(r'<li([^>]*)><a href="([^"]+)"[^>]*>([A-Za-z]+) <span', html)
    assert [label for *_, label in tabs] == [
        "Ready",
        "Deferred",
        "Retrying",
        "Running",
        "Failed",
        "Successful",
    ]
    selected = [label for attrs, _, label in tabs if "selected" in attrs]
    assert selected == ["Retrying"]
    assert 'data-state="retrying">2</span>' in html
    assert "Cancel all retrying…" in html
    assert "Purge all" not in html  # it would purge every deferred task
    assert "Purge selected…" in html
    assert response.context["title"] == "Retrying tasks of queue “default”"
    deferred = admin_client.get(list_path("deferred")).content.decode()
    assert re.findall(r'<tr data-task-id="([^"]+)"', deferred) == [*retrying, later]
    assert deferred.count("tm-retry-mark") == 2  # the retrying ones are marked
    assert "Purge all deferred…" in deferred


def test_the_overview_counts_retrying_tasks_and_links_to_them(admin_client, backend):
    make_deferred_and_retrying(backend)
    html = admin_client.get(BASE).content.decode()
    assert ">Retrying</th>" in html
    link = re.search(
        r'<a class="tm-count" data-state="retrying" href="([^"]+)"[^>]*>(\d+)</a>', html
    )
    assert (link[1], link[2]) == (list_path("retrying"), "2")
    assert re.search(r'data-state="deferred" href="[^"]+">3</a>', html)
    assert "2 failed attempts retried" in html
