"""Cancel and terminate in the admin, through Django's test client: the task detail's task
controls (attempts "n of m", next retry, time limit, expires, cancellation, uniqueness key),
the confirmation pages, outcomes, history, permissions and CSRF, selected tasks and whole
sets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import fail_next, lease_next, make_user, retry_next
from threadmill import Backoff
from threadmill.backends.records import TaskState

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"
CANCEL = f"{BASE}default/selected/cancel/"
TERMINATE = f"{BASE}default/selected/terminate/"


def detail_path(task_id: str) -> str:
    return f"{BASE}default/tasks/{task_id}/"


def list_path(state: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/"


def batch_path(state: str, action: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/all/{action}/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def fact(html: str, label: str) -> str:
    """The text of a <dd> of the task detail, by its <dt>, tags removed."""
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd[^>]*>(.*?)</dd>", html, re.S)
    assert found, f"no {label!r} on the page"
    return " ".join(re.sub(r"<[^>]+>", "", found[1]).split())


# ---- the detail page's task controls -------------------------------------------------------


def test_detail_shows_attempts_of_the_backoff_and_the_next_retry(admin_client, backend):
    tasks.flaky.enqueue()  # Backoff(max_attempts=5)
    task_id = retry_next(backend, retry_after=600).task_id
    record = backend.get_task(task_id)
    html = admin_client.get(detail_path(task_id)).content.decode()
    assert fact(html, "Attempts") == "1 of 5"
    next_retry = fact(html, "Next retry")
    assert next_retry.startswith(record.run_after.strftime("%Y-%m-%d %H:%M:%S"))
    assert "after 1 failed attempt" in next_retry
    assert fact(html, "Time limit") == "none (only lease_ttl, 1 h 0 min)"
    assert fact(html, "Expires") == "never"
    assert fact(html, "Cancellation") == "—"
    assert fact(html, "Uniqueness key") == "— (not unique)"


def test_detail_shows_time_limit_expires_and_uniqueness_key(admin_client, backend):
    limited = tasks.sleeps_past_limit.enqueue().id  # timeout 1 s
    expiring = tasks.expiring.enqueue().id  # expires 0.2 s
    unique = tasks.unique_nap.enqueue(1, "m").id
    html = admin_client.get(detail_path(limited)).content.decode()
    assert fact(html, "Time limit") == "1.0 s per attempt"
    assert fact(html, "Attempts") == "0"  # no retry policy: the count alone
    assert "Next retry" not in html
    html = admin_client.get(detail_path(expiring)).content.decode()
    assert fact(html, "Expires") == "200 ms after it becomes due"
    key = backend.get_task(unique).unique_key
    assert len(key) == 32
    html = admin_client.get(detail_path(unique)).content.decode()
    assert fact(html, "Uniqueness key") == key


def test_attempts_use_the_alias_default_backoff_unless_the_task_has_its_own(
    admin_client, make_backend, redis_server
):
    make_backend(redis_server.url, {"retry": Backoff(max_attempts=4)})
    plain = tasks.noop.enqueue().id
    own = tasks.flaky.enqueue().id
    assert fact(admin_client.get(detail_path(plain)).content.decode(), "Attempts") == "0 of 4"
    assert fact(admin_client.get(detail_path(own)).content.decode(), "Attempts") == "0 of 5"


def test_a_task_whose_code_is_gone_shows_the_count_alone(admin_client, backend, rclient):
    task_id = tasks.noop.enqueue().id
    rclient.hset(backend.keys.task(task_id), mapping={"path": "gone.module.task", "attempts": 2})
    html = admin_client.get(detail_path(task_id)).content.decode()
    assert fact(html, "Attempts") == "2"


# ---- cancel and terminate one task ---------------------------------------------------------


def test_cancel_a_ready_task_from_its_detail_page(admin_client, admin_user, backend):
    task_id = tasks.noop.enqueue().id
    html = admin_client.get(detail_path(task_id)).content.decode()
    assert "Cancel…" in html
    assert "Terminate…" not in html  # only for a running task
    page = admin_client.post(CANCEL, {"ids": [task_id], "next": detail_path(task_id)})
    assert page.status_code == 200
    html = page.content.decode()
    assert "cancel 1 task</strong>" in html
    assert "Yes, cancel 1 task" in html
    assert backend.get_task(task_id).state == TaskState.READY  # nothing happened yet
    done = admin_client.post(
        CANCEL, {"ids": [task_id], "next": detail_path(task_id), "confirmed": "1"}
    )
    assert done.status_code == 302
    assert done.url == detail_path(task_id)
    assert messages_of(done) == [
        "Cancelled 1 task: FAILED with Cancelled, removed from the queue; it will not run."
    ]
    record = backend.get_task(task_id)
    assert record.state == TaskState.FAILED
    assert record.last_error.exception_class_path == "threadmill.exceptions.Cancelled"
    assert "cancelled by admin:admin while READY" in record.last_error.traceback
    [entry] = LogEntry.objects.all()
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert entry.object_id == f"default:{task_id}"
    assert entry.change_message == "Cancelled through the Threadmill admin."
    html = admin_client.get(detail_path(task_id)).content.decode()
    assert fact(html, "Cancellation") == "requested by admin:admin"
    assert "Cancel…" not in html  # finished: nothing left to cancel


def test_cancel_a_running_task_is_a_request_and_terminate_stops_it(admin_client, backend):
    task_id = tasks.noop.enqueue().id
    lease = backend.acquire("w1", ["default"], "w1/1")
    assert lease.task_id == task_id
    html = admin_client.get(detail_path(task_id)).content.decode()
    assert "Cancel…" in html
    assert "Terminate…" in html
    page = admin_client.post(TERMINATE, {"ids": [task_id]}).content.decode()
    assert "terminate 1 task</strong>" in page
    assert "worker process is replaced" in page
    done = admin_client.post(
        CANCEL, {"ids": [task_id], "next": detail_path(task_id), "confirmed": "1"}
    )
    assert messages_of(done)[0].startswith("Requested the cancellation of 1 running task")
    record = backend.get_task(task_id)
    assert (record.state, record.cancel_requested_by) == (TaskState.RUNNING, "admin:admin")
    [request] = backend.wait_for_control("w1", 1)
    assert (request.task_id, request.token, request.terminate) == (task_id, "w1/1", False)
    html = admin_client.get(detail_path(task_id)).content.decode()
    assert fact(html, "Cancellation") == "requested by admin:admin"

    done = admin_client.post(TERMINATE, {"ids": [task_id], "confirmed": "1"})
    assert messages_of(done)[0].startswith("Asked the worker of 1 running task to stop it now")
    [request] = backend.wait_for_control("w1", 1)
    assert (request.task_id, request.terminate, request.who) == (task_id, True, "admin:admin")
    assert [e.change_message for e in LogEntry.objects.order_by("pk")] == [
        "Cancellation requested through the Threadmill admin.",
        "Termination requested through the Threadmill admin.",
    ]


def test_cancelling_finished_or_missing_tasks_is_refused(admin_client, backend):
    tasks.fail.enqueue()
    failed = fail_next(backend).task_id
    html = admin_client.get(detail_path(failed)).content.decode()
    assert "Cancel…" not in html
    page = admin_client.post(CANCEL, {"ids": [failed, "nope"]}).content.decode()
    assert "Yes, cancel 0 tasks" in page
    assert "disabled" in page
    done = admin_client.post(CANCEL, {"ids": [failed, "nope"], "confirmed": "1"})
    assert sorted(messages_of(done)) == [
        "1 task missing: already purged, or expired.",
        "Refused 1 task because FAILED: already finished, nothing to cancel.",
    ]
    assert backend.get_task(failed).cancel_requested_by == ""
    assert not LogEntry.objects.exists()


# ---- permissions and CSRF ------------------------------------------------------------------


def test_cancel_needs_the_cancel_permission(backend):
    tasks.noop.enqueue()
    running = lease_next(backend).task_id
    ready = tasks.noop.enqueue().id
    viewer = client_for(make_user("viewer", "view_task"))
    purger = client_for(make_user("purger", "view_task", "purge_task", "requeue_task"))
    for client in (viewer, purger):
        for task_id in (ready, running):
            html = client.get(detail_path(task_id)).content.decode()
            assert "Cancel…" not in html
            assert "Terminate…" not in html
        html = client.get(list_path("running")).content.decode()
        assert "Cancel selected" not in html
        assert "Terminate selected" not in html
        assert "Cancel all" not in client.get(list_path("ready")).content.decode()
        for path in (CANCEL, TERMINATE):
            assert client.post(path, {"ids": [ready, running], "confirmed": "1"}).status_code == 403
            assert client.get(path, {"ids": ready}).status_code == 403
        batch = {"confirmed": "1", "target": "1"}
        assert client.post(batch_path("ready", "cancel"), batch).status_code == 403
    assert backend.get_task(ready).state == TaskState.READY
    assert backend.get_task(running).cancel_requested_by == ""
    canceller = client_for(make_user("canceller", "view_task", "cancel_task"))
    html = canceller.get(detail_path(running)).content.decode()
    assert "Cancel…" in html
    assert "Terminate…" in html
    assert "Purge" not in canceller.get(detail_path(ready)).content.decode()
    assert canceller.post(CANCEL, {"ids": [ready], "confirmed": "1"}).status_code == 302
    assert backend.get_task(ready).state == TaskState.FAILED
    assert "admin:canceller" in backend.get_task(ready).last_error.traceback


def test_cancel_enforces_csrf(admin_user, backend):
    task_id = tasks.noop.enqueue().id
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for path in (CANCEL, TERMINATE):
        assert client.post(path, {"ids": [task_id], "confirmed": "1"}).status_code == 403
    batch = {"confirmed": "1", "target": "1"}
    assert client.post(batch_path("ready", "cancel"), batch).status_code == 403
    assert backend.get_task(task_id).state == TaskState.READY
    page = client.get(CANCEL, {"ids": task_id})  # the confirmation page carries a token
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    done = client.post(CANCEL, {"ids": [task_id], "confirmed": "1", "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    assert backend.get_task(task_id).state == TaskState.FAILED


def test_a_get_never_cancels(admin_client, backend):
    task_id = tasks.noop.enqueue().id
    assert admin_client.get(CANCEL, {"ids": task_id, "confirmed": "1"}).status_code == 200
    assert admin_client.get(batch_path("ready", "cancel")).status_code == 200
    assert backend.get_task(task_id).state == TaskState.READY


# ---- selected tasks and whole sets ---------------------------------------------------------


def test_cancel_selected_from_a_list_reports_every_outcome(admin_client, backend):
    tasks.fail.enqueue()
    failed = fail_next(backend).task_id
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    ready = [tasks.noop.enqueue().id for _ in range(3)]
    running = lease_next(backend).task_id
    assert running == ready[0]
    html = admin_client.get(list_path("ready")).content.decode()
    assert "Cancel selected…" in html
    assert "Cancel all ready…" in html
    html = admin_client.get(list_path("running")).content.decode()
    assert "Cancel selected…" in html
    assert "Terminate selected…" in html
    assert "Cancel all" not in html
    assert "Cancel" not in admin_client.get(list_path("failed")).content.decode()
    ids = [later, *ready, failed]
    done = admin_client.post(CANCEL, {"ids": ids, "next": list_path("ready"), "confirmed": "1"})
    assert done.url == list_path("ready")
    got = messages_of(done)
    assert got[0] == (
        "Cancelled 3 tasks: FAILED with Cancelled, removed from the queue; they will not run."
    )
    assert got[1].startswith("Requested the cancellation of 1 running task: it stops")
    assert got[2] == "Refused 1 task because FAILED: already finished, nothing to cancel."
    [stats] = backend.queue_stats(["default"])
    assert (stats.ready, stats.deferred, stats.running, stats.failed) == (0, 0, 1, 4)
    assert backend.get_task(running).cancel_requested_by == "admin:admin"
    assert LogEntry.objects.count() == 4


def test_whole_set_cancel_is_offered_for_queued_tasks_only(admin_client, backend):
    tasks.noop.enqueue()
    lease_next(backend)
    for state, start in (
        ("running", "Running tasks cannot be cancelled as a whole set"),
        ("failed", "FAILED tasks are finished"),
    ):
        response = admin_client.get(batch_path(state, "cancel"))
        assert response.url == list_path(state)
        assert messages_of(response)[-1].startswith(start)
    for action in ("purge", "requeue"):  # the retrying subset: cancel only
        response = admin_client.post(batch_path("retrying", action), {"confirmed": "1"})
        assert response.url == list_path("retrying")
        assert messages_of(response)[-1].startswith("Retrying tasks can only be cancelled")
    assert backend.queue_stats(["default"])[0].running == 1
    assert admin_client.get(batch_path("ready", "terminate")).status_code == 404
