"""The admin's search (filters in the URL, bounded scan, continue link) and its bulk jobs
(confirmation, the job's page, cancelling, the audit entry, permissions, CSRF, escaping)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import fail_next, fake_heartbeat, make_user
from tests.search_helpers import make_failed
from threadmill.backends.job_records import JobStatus
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"


def list_path(state: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/"


def batch_path(state: str, action: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/all/{action}/"


def job_path(job_id: str) -> str:
    return f"{BASE}default/jobs/{job_id}/"


def finish(backend, job_id: str) -> None:
    """Run a job to its end, as a pool's broker would."""
    while backend.run_job_chunk(job_id)[0] == "running":
        pass


# ---- search -------------------------------------------------------------------------------


def test_a_search_combines_its_parts_and_keeps_them_in_the_url(admin_client, backend):
    wanted = make_failed(backend, 2, "myapp.errors.Timeout", "host-a", arg="acct-42")
    make_failed(backend, 2, "myapp.errors.Timeout", "host-b", arg="acct-42")
    make_failed(backend, 2, "builtins.KeyError", "host-a", arg="acct-42")
    query = "?error=Timeout&worker=host-a&args=acct-42"
    response = admin_client.get(list_path("failed") + query)
    assert {t.id for t in response.context["page"].items} == set(wanted)
    html = response.content.decode()
    for value in ('value="Timeout"', 'value="host-a"', 'value="acct-42"'):
        assert value in html  # the search stays in its form
    assert "last error Timeout, worker contains “host-a”" in html
    assert '<code title="myapp.errors.Timeout">Timeout</code>' in html  # the error column
    assert "broken" in html  # the first line of its message
    assert "(&quot;acct-42&quot;)" in html  # the arguments in short
    # the whole-set links carry the search: "requeue all matching"
    assert "all/requeue/?task=&" not in html
    assert re.search(r'all/requeue/\?[^"]*error=Timeout', html)
    assert "Requeue all matching…" in html


def test_a_search_scans_a_bounded_window_and_offers_to_continue(admin_client, backend):
    wanted = make_failed(backend, 1, "builtins.KeyError")  # the oldest: the end of the list
    make_failed(backend, 6, "builtins.ValueError")
    with override_settings(THREADMILL_ADMIN={"SEARCH_SCAN": 4}):
        first = admin_client.get(list_path("failed") + "?error=KeyError")
        html = first.content.decode()
        assert first.context["page"].items == []
        assert "searched 1\N{EN DASH}4 of <strong" in html
        link = re.search(r'class="tm-continue" href="([^"]+)"', html)[1].replace("&amp;", "&")
        assert "offset=4" in link
        assert "error=KeyError" in link
        more = admin_client.get(list_path("failed") + link)
        assert [t.id for t in more.context["page"].items] == wanted
        assert "tm-continue" not in more.content.decode()  # the end of the list


def test_a_bad_time_says_what_to_write(admin_client, backend):
    make_failed(backend, 1)
    response = admin_client.get(list_path("failed") + "?since=yesterday")
    assert response.status_code == 200
    html = response.content.decode()
    assert "since: &#x27;yesterday&#x27; is not a date or time: write 2026-12-05" in html
    assert response.context["page"] is None


def test_search_values_are_escaped(admin_client, backend):
    evil = "<script>alert(1)</script>"
    tasks.echo.enqueue(evil)
    response = admin_client.get(list_path("ready"), {"args": "alert", "error": evil})
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html
    response = admin_client.get(list_path("ready"), {"args": "alert"})
    assert len(response.context["page"].items) == 1
    assert "<script>alert(1)" not in response.content.decode()


def test_hostile_messages_paths_and_filters_are_escaped_on_every_new_page(admin_client, backend):
    evil = "<script>alert(1)</script>"
    tasks.fail.enqueue(evil)
    fail_next(backend, message=evil)  # the message shows on the list and the metrics
    hostile = {"args": evil, "error": evil, "task": evil, "worker": evil}
    pages = [
        (list_path("failed"), {}),
        (list_path("failed"), hostile),
        (f"{BASE}default/metrics/", {}),
        (f"{BASE}default/metrics/tests.tasks.fail/", {"queue": "default"}),
        (f"{BASE}default/queues/default/failed/all/requeue/", hostile),
        (f"{BASE}default/jobs/", {}),
    ]
    for path, params in pages:
        response = admin_client.get(path, params)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert "<script>alert(1)" not in html, path
    first = admin_client.get(list_path("failed")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first  # shown, as text


# ---- bulk jobs ----------------------------------------------------------------------------


def test_requeue_all_matching_becomes_a_job_that_logs_once_when_finished(admin_client, backend):
    timeouts = make_failed(backend, 3, "myapp.errors.Timeout")
    others = make_failed(backend, 2, "builtins.KeyError")
    page = admin_client.get(batch_path("failed", "requeue") + "?error=Timeout")
    html = page.content.decode()
    assert "every failed task of queue “default” where last error Timeout" in html
    assert 'name="error" value="Timeout"' in html
    assert [j.id for j in backend.jobs()] == []  # a GET records nothing
    response = admin_client.post(
        batch_path("failed", "requeue"), {"confirmed": "1", "error": "Timeout"}
    )
    [job] = backend.jobs()
    assert response.url == job_path(job.id)
    assert (job.action, job.filter.error, job.who) == ("requeue", "Timeout", "admin:admin")
    waiting = admin_client.get(job_path(job.id)).content.decode()
    assert "No pool is running: this job waits" in waiting
    assert not LogEntry.objects.exists()
    finish(backend, job.id)
    assert {backend.get_task(i).state for i in timeouts} == {TaskState.READY}
    assert {backend.get_task(i).state for i in others} == {TaskState.FAILED}
    fake_heartbeat(backend)
    done = admin_client.get(job_path(job.id)).content.decode()
    assert "Status: <strong>done</strong>" in done
    assert "No pool is running" not in done
    admin_client.get(f"{BASE}default/jobs/")  # seen finished again: no second entry
    [entry] = LogEntry.objects.all()
    assert entry.action_flag == CHANGE
    assert "Requeued 3 failed tasks of queue 'default'" in entry.change_message
    assert "where last error Timeout" in entry.change_message
    assert job.id in entry.change_message


def test_the_jobs_list_refreshes_its_live_region(admin_client, backend):
    make_failed(backend, 2)
    job = backend.create_job("purge", "default", TaskState.FAILED, TaskFilter(), who="x<b>")
    headers = {"HX-Request": "true", "HX-Target": "tm-live"}
    part = admin_client.get(f"{BASE}default/jobs/", headers=headers).content.decode()
    assert "<html" not in part
    assert f'data-job-id="{job.id}"' in part
    assert "x&lt;b&gt;" in part
    assert "No pool is running: 1 job waits" in part


def test_cancel_all_retrying_is_a_job_on_the_retrying_tasks(admin_client, backend):
    retrying = tasks.echo.enqueue("r")
    lease = backend.acquire("w1", ["default"], "t-1")
    backend.acknowledge(
        lease,
        "w1",
        succeeded=False,
        value_json='{"exception_class_path": "builtins.OSError", "traceback": "x"}',
        retry_after=600,
    )
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    response = admin_client.post(batch_path("retrying", "cancel"), {"confirmed": "1"})
    [job] = backend.jobs()
    assert job.retrying
    assert response.url == job_path(job.id)
    finish(backend, job.id)
    assert backend.get_task(retrying.id).state == TaskState.FAILED
    assert backend.get_task(later.id).state == TaskState.DEFERRED


def test_a_job_can_be_cancelled_and_what_it_did_stays(admin_client, backend):
    make_failed(backend, 5)
    admin_client.post(batch_path("failed", "purge"), {"confirmed": "1"})
    [job] = backend.jobs()
    backend._jobs.chunk(job.id, 2)
    page = admin_client.get(job_path(job.id)).content.decode()
    assert "Cancel this job" in page
    response = admin_client.post(f"{job_path(job.id)}cancel/")
    assert response.url == job_path(job.id)
    after = backend.get_job(job.id)
    assert (after.status, after.acted, after.cancelled_by) == (
        JobStatus.CANCELLED,
        2,
        "admin:admin",
    )
    assert backend.queue_stats(["default"])[0].failed == 3
    admin_client.get(job_path(job.id))
    [entry] = LogEntry.objects.all()
    assert entry.action_flag == DELETION
    assert "cancelled by admin:admin" in entry.change_message
    assert admin_client.get(f"{job_path(job.id)}cancel/").status_code == 405  # POST only


def test_view_only_users_see_no_buttons_and_get_403(backend):
    make_failed(backend, 2)
    job = backend.create_job("requeue", "default", TaskState.FAILED, TaskFilter(), who="t")
    viewer = Client()
    viewer.force_login(make_user("viewer", "view_task"))
    html = viewer.get(list_path("failed") + "?error=ValueError").content.decode()
    assert "Requeue all" not in html
    assert "Purge all" not in html
    assert "Requeue selected" not in html
    assert "Cancel this job" not in viewer.get(job_path(job.id)).content.decode()
    assert viewer.get(batch_path("failed", "requeue")).status_code == 403
    assert viewer.post(batch_path("failed", "requeue"), {"confirmed": "1"}).status_code == 403
    assert viewer.post(f"{job_path(job.id)}cancel/").status_code == 403
    requeuer = Client()
    requeuer.force_login(make_user("requeuer", "view_task", "requeue_task"))
    assert requeuer.post(batch_path("failed", "purge"), {"confirmed": "1"}).status_code == 403
    assert [j.id for j in backend.jobs()] == [job.id]
    assert backend.get_job(job.id).status == JobStatus.WAITING


def test_bulk_jobs_enforce_csrf(admin_user, backend):
    make_failed(backend, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(batch_path("failed", "requeue"), {"confirmed": "1"}).status_code == 403
    assert backend.jobs() == []
    job = backend.create_job("requeue", "default", TaskState.FAILED, TaskFilter(), who="t")
    assert client.post(f"{job_path(job.id)}cancel/").status_code == 403
    assert backend.get_job(job.id).status == JobStatus.WAITING
    page = client.get(batch_path("failed", "requeue"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    done = client.post(
        batch_path("failed", "requeue"), {"confirmed": "1", "csrfmiddlewaretoken": token}
    )
    assert done.status_code == 302
    assert len(backend.jobs()) == 2


def test_an_unknown_job_is_a_404(admin_client):
    assert admin_client.get(job_path("nope")).status_code == 404


def test_the_failed_list_groups_the_newest_failures_by_exception_class(admin_client, backend):
    make_failed(backend, 4, "builtins.KeyError")
    make_failed(backend, 1, "myapp.errors.Timeout")
    plain = admin_client.get(list_path("failed")).content.decode()
    assert "tm-error-classes" not in plain  # on demand: one bounded read when asked
    assert 'href="?group=error"' in plain
    grouped = admin_client.get(list_path("failed"), {"group": "error"})
    html = grouped.content.decode()
    assert "Exception classes of the newest 5 of 5 failed tasks" in html
    rows = re.findall(
        r'<a href="\?error=([^"]+)"[^>]*><code>([^<]+)</code></a></td><td class="tm-num">(\d+)<',
        html,
    )
    assert [(code, n) for _, code, n in rows] == [
        ("builtins.KeyError", "4"),
        ("myapp.errors.Timeout", "1"),
    ]
    only = admin_client.get(list_path("failed") + "?error=" + rows[1][0])
    assert len(only.context["page"].items) == 1
