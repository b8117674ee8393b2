"""Queue and pool operations in the admin, through Django's test client: pause / resume a
queue from the overview, run now (a deferred or retrying task, selected tasks), pool
requests from the Workers page; messages, history (LogEntry), permissions (403 and no
buttons), CSRF, and that a GET never acts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import fake_heartbeat, lease_next, make_user, retry_next
from threadmill.backends.records import TaskState

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"
RUN_NOW = f"{BASE}default/selected/run-now/"
WORKERS = f"{BASE}default/workers/"


def switch_path(queue: str, action: str) -> str:
    return f"{BASE}default/queue-switch/{queue}/{action}/"


def pool_path(pool_id: str, action: str) -> str:
    return f"{BASE}default/pools/{pool_id}/{action}/"


def detail_path(task_id: str) -> str:
    return f"{BASE}default/tasks/{task_id}/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queue_row(html: str, queue: str) -> str:
    found = re.search(rf'<tr>\s*<th scope="row">{queue}(.*?)</tr>', html, re.S)
    assert found, f"no row of queue {queue}"
    return found[0]


# ---- pause / resume ------------------------------------------------------------------------


def test_pause_and_resume_a_queue_from_the_overview(admin_client, admin_user, backend):
    html = admin_client.get(BASE).content.decode()
    row = queue_row(html, "default")
    assert "Paused</span>" not in row
    assert 'aria-label="Pause queue default"' in row
    done = admin_client.post(switch_path("default", "pause"), {"next": BASE})
    assert (done.status_code, done.url) == (302, BASE)
    assert messages_of(done)[0].startswith("Paused queue “default”: pools take none")
    assert backend.paused_queues() == ["default"]
    row = queue_row(admin_client.get(BASE).content.decode(), "default")
    assert "Paused</span>" in row
    assert 'aria-label="Resume queue default"' in row
    again = admin_client.post(switch_path("default", "pause"))
    assert messages_of(again) == ["Queue “default” was already paused."]
    done = admin_client.post(switch_path("default", "resume"))
    assert messages_of(done)[-1] == (
        "Resumed queue “default”: 0 task(s) went to waiting threads at once."
    )
    assert backend.paused_queues() == []
    entries = list(LogEntry.objects.order_by("pk"))
    assert [(e.user, e.action_flag) for e in entries] == [(admin_user, CHANGE)] * 2
    assert [e.change_message for e in entries] == [
        "Paused queue 'default' (backend 'default') through the Threadmill admin.",
        "Resumed queue 'default' (backend 'default') through the Threadmill admin.",
    ]
    assert entries[0].object_repr == "queue default (backend default)"


def test_pausing_needs_the_permission_a_post_and_a_csrf_token(backend):
    viewer = client_for(make_user("viewer", "view_task"))
    html = viewer.get(BASE).content.decode()
    assert "Pause queue" not in html
    assert viewer.post(switch_path("default", "pause")).status_code == 403
    assert backend.paused_queues() == []
    pauser = make_user("pauser", "view_task", "pause_queue")
    client = client_for(pauser)
    assert "Pause queue default" in client.get(BASE).content.decode()
    assert client.get(switch_path("default", "pause")).status_code == 405  # a GET never acts
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(pauser)
    assert strict.post(switch_path("default", "pause")).status_code == 403
    assert backend.paused_queues() == []
    assert client.post(switch_path("nope", "pause")).status_code == 404
    assert client.post(switch_path("default", "explode")).status_code == 404
    assert client.post(switch_path("default", "pause")).status_code == 302
    assert backend.paused_queues() == ["default"]


# ---- run now -------------------------------------------------------------------------------


def test_run_a_deferred_task_now_from_its_detail_page(admin_client, admin_user, backend):
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    ready = tasks.noop.enqueue().id
    assert "Run now…" in admin_client.get(detail_path(later)).content.decode()
    assert "Run now…" not in admin_client.get(detail_path(ready)).content.decode()
    page = admin_client.post(RUN_NOW, {"ids": [later], "next": detail_path(later)})
    html = page.content.decode()
    assert "run 1 deferred task now</strong>" in html
    assert "Yes, run 1 task now" in html
    assert backend.get_task(later).state == TaskState.DEFERRED  # nothing happened yet
    done = admin_client.post(
        RUN_NOW, {"ids": [later], "next": detail_path(later), "confirmed": "1"}
    )
    assert done.url == detail_path(later)
    assert messages_of(done)[0].startswith("Moved 1 task to READY now")
    assert backend.get_task(later).state == TaskState.READY
    [entry] = LogEntry.objects.all()
    assert (entry.user, entry.object_id) == (admin_user, f"default:{later}")
    assert entry.change_message == "Run now (moved to READY) through the Threadmill admin."


def test_run_selected_retrying_tasks_now_reports_every_outcome(admin_client, backend):
    tasks.noop.enqueue()
    retrying = retry_next(backend).task_id
    running_src = tasks.noop.enqueue().id
    running = lease_next(backend).task_id
    assert running == running_src
    html = admin_client.get(f"{BASE}default/queues/default/retrying/").content.decode()
    assert "Run selected now…" in html
    done = admin_client.post(RUN_NOW, {"ids": [retrying, running, "nope"], "confirmed": "1"})
    assert sorted(messages_of(done)) == [
        "1 task missing: already purged, or expired.",
        "Moved 1 task to READY now: the next free thread runs it (id and history kept).",
        "Refused 1 task because RUNNING: only DEFERRED tasks (waiting for their time or a "
        "retry) can be run now.",
    ]
    stats = backend.queue_stats(["default"])[0]
    assert (stats.retrying, stats.ready) == (0, 1)


def test_run_now_needs_the_requeue_permission(backend):
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    viewer = client_for(make_user("viewer", "view_task", "cancel_task"))
    assert "Run now…" not in viewer.get(detail_path(later)).content.decode()
    deferred_list = viewer.get(f"{BASE}default/queues/default/deferred/").content.decode()
    assert "Run selected now" not in deferred_list
    assert viewer.post(RUN_NOW, {"ids": [later], "confirmed": "1"}).status_code == 403
    assert backend.get_task(later).state == TaskState.DEFERRED


# ---- pool requests -------------------------------------------------------------------------


def test_pool_buttons_send_requests_and_are_logged(admin_client, admin_user, backend):
    fake_heartbeat(backend, "pool-1")
    html = admin_client.get(WORKERS).content.decode()
    for label in ("Quiet", "Add a worker process", "Stop gracefully"):
        assert f">{label}</button>" in html
    assert "Remove a worker process" not in html  # one process: never below one
    done = admin_client.post(pool_path("pool-1", "quiet"))
    assert (done.status_code, done.url) == (302, WORKERS)
    assert messages_of(done)[0].startswith("Asked pool pool-1 to go quiet")
    assert backend.maintain(["default"], pool_id="pool-1").pool_requests == ["quiet"]
    [entry] = LogEntry.objects.all()
    assert entry.user == admin_user
    assert entry.change_message == (
        "Asked pool 'pool-1' (backend 'default') to quiet through the Threadmill admin."
    )
    missing = admin_client.post(pool_path("gone", "stop"))
    assert messages_of(missing)[-1].startswith("No live pool 'gone'")
    assert LogEntry.objects.count() == 1
    assert admin_client.post(pool_path("pool-1", "explode")).status_code == 404


def test_a_quiet_pool_shows_its_state_and_a_resume_button(admin_client, backend):
    fake_heartbeat(backend, "pool-1")
    report = backend.pools()[0].report
    from dataclasses import replace

    backend.heartbeat("pool-1", ["w1"], replace(report, quiet=True))
    html = admin_client.get(WORKERS).content.decode()
    assert "Quiet</span>" in html
    assert "quiet: takes no new tasks" in html
    assert ">Resume</button>" in html


def test_pool_requests_need_the_permission_a_post_and_a_csrf_token(backend):
    fake_heartbeat(backend, "pool-1")
    viewer = client_for(make_user("viewer", "view_task"))
    assert "Stop gracefully" not in viewer.get(WORKERS).content.decode()
    assert viewer.post(pool_path("pool-1", "stop")).status_code == 403
    manager = make_user("manager", "view_task", "manage_pools")
    client = client_for(manager)
    assert client.get(pool_path("pool-1", "stop")).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(manager)
    assert strict.post(pool_path("pool-1", "stop")).status_code == 403
    assert backend.maintain(["default"], pool_id="pool-1").pool_requests == []
    assert client.post(pool_path("pool-1", "stop")).status_code == 302
    assert backend.maintain(["default"], pool_id="pool-1").pool_requests == ["stop"]
