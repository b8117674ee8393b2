"""The admin pages through Django's test client: what each shows, permissions, escaping,
pagination, live-refresh fragments, and a backend whose Redis is down."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from tests import tasks
from tests.admin_helpers import (
    fail_next,
    fake_heartbeat,
    lease_next,
    make_user,
    next_redis_millisecond,
    succeed_next,
)
from tests.conftest import tasks_setting
from tests.redis_server import free_port
from threadmill.models import Task

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"


def list_path(state: str, queue: str = "default", alias: str = "default") -> str:
    return f"{BASE}{alias}/queues/{queue}/{state}/"


def detail_path(task_id: str, alias: str = "default") -> str:
    return f"{BASE}{alias}/tasks/{task_id}/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_threadmill_is_on_the_admin_index(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Threadmill" in html
    assert f'href="{BASE}"' in html


def test_overview_counts_link_into_lists_and_shows_redis_health(admin_client, backend):
    tasks.noop.enqueue()
    tasks.noop.enqueue()
    tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    tasks.urgent.enqueue(1)
    lease_next(backend, queues=["high"])  # running in "high"
    tasks.fail.enqueue()
    response = admin_client.get(BASE)
    assert response.status_code == 200
    [section] = response.context["sections"]
    stats = {q.queue: q for q in section.stats}
    assert (stats["default"].ready, stats["default"].deferred) == (3, 1)
    assert stats["high"].running == 1
    html = response.content.decode()
    assert f'href="{list_path("ready")}">3</a>' in html
    assert f'href="{list_path("deferred")}">1</a>' in html
    assert f'href="{list_path("running", "high")}">1</a>' in html
    assert "Oldest ready" in html
    assert section.server.version in html
    assert "noeviction" in html
    assert "AOF on" in html


def test_overview_warns_when_redis_can_lose_tasks(admin_client, disposable_redis, make_backend):
    server = disposable_redis(appendonly=False, extra=["--maxmemory-policy", "allkeys-lru"])
    backend = make_backend(server.url)
    backend.record_data_loss("the data epoch changed")
    html = admin_client.get(BASE).content.decode()
    assert "has persistence off (appendonly no)" in html
    assert "has maxmemory-policy allkeys-lru" in html
    assert "lost data at" in html  # the warning, and the fact below it
    assert "Data lost at" in html
    assert "AOF off" in html


def test_list_pages_follow_backend_order_and_paginate(admin_client, backend):
    results = backend.enqueue_many(tasks.add, [((i, i), {}) for i in range(7)])
    urgent = tasks.add.using(priority=50).enqueue(0, 0)
    response = admin_client.get(list_path("ready") + "?limit=3")
    assert response.status_code == 200
    ids = [t.id for t in response.context["page"].items]
    assert ids == [urgent.id, results[0].id, results[1].id]
    html = response.content.decode()
    assert "1\N{EN DASH}3 of <strong" in html
    assert ">8</strong>" in html
    assert "offset=3" in html  # next page link
    deep = admin_client.get(list_path("ready") + "?limit=3&offset=6")
    assert [t.id for t in deep.context["page"].items] == [r.id for r in results[5:7]]
    assert "Previous" in deep.content.decode()
    assert 'rel="next"' not in deep.content.decode()


def test_list_of_finished_tasks_newest_first_with_error_and_worker(admin_client, backend):
    tasks.fail.enqueue("first")
    tasks.fail.enqueue("second")
    first = fail_next(backend, worker="wA")
    next_redis_millisecond(backend)
    second = fail_next(backend, worker="wB")
    response = admin_client.get(list_path("failed"))
    assert [t.id for t in response.context["page"].items] == [second.task_id, first.task_id]
    html = response.content.decode()
    assert "<code>ValueError</code>" in html
    assert "<code>wB</code>" in html


def test_list_validates_state_queue_and_alias(admin_client):
    assert admin_client.get(list_path("bogus")).status_code == 404
    assert admin_client.get(list_path("ready", queue="nope")).status_code == 404
    assert admin_client.get(list_path("ready", alias="nope")).status_code == 404


def test_running_list_says_why_it_cannot_be_purged(admin_client, backend):
    tasks.noop.enqueue()
    lease_next(backend)
    html = admin_client.get(list_path("running")).content.decode()
    assert "Running tasks cannot be requeued or purged" in html
    assert "Purge selected" not in html
    assert "/all/purge/" not in html


def test_detail_shows_everything_escaped(admin_client, backend):
    evil = "<script>alert(1)</script>"
    tasks.echo.enqueue(evil, **{})
    backend.enqueue_many(tasks.echo, [((), {"value": evil})])
    lease = lease_next(backend)
    value = json.dumps({"exception_class_path": "builtins.ValueError", "traceback": evil})
    backend.acknowledge(lease, "w1", succeeded=False, value_json=value)
    response = admin_client.get(detail_path(lease.task_id))
    assert response.status_code == 200
    html = response.content.decode()
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "builtins.ValueError" in html
    assert "tests.tasks.echo" in html
    assert "FAILED" in html
    assert "Requeue…" in html
    assert "Purge…" in html


def test_detail_of_a_successful_task_shows_its_return_value(admin_client, backend):
    tasks.add.enqueue(2, 3)
    lease = succeed_next(backend, value={"total": 5, "items": [1, 2]})
    html = admin_client.get(detail_path(lease.task_id)).content.decode()
    assert "Return value" in html
    assert "&quot;total&quot;: 5" in html  # pretty-printed JSON, escaped
    assert "SUCCESSFUL" in html


def test_detail_of_a_corrupt_record_shows_problems_and_raw(admin_client, backend, rclient):
    key = backend.keys.task("bad1")
    rclient.hset(key, mapping={"status": "WHAT", "args": "{not json", "raw": "<junk>"})
    html = admin_client.get(detail_path("bad1")).content.decode()
    assert "status &#x27;WHAT&#x27; is unknown" in html
    assert "args is not valid JSON" in html
    assert "{not json" in html
    assert "&lt;junk&gt;" in html


def test_detail_of_a_running_task_says_why_no_actions(admin_client, backend):
    tasks.noop.enqueue()
    lease = lease_next(backend, worker="busy-worker")
    html = admin_client.get(detail_path(lease.task_id)).content.decode()
    assert "cannot be requeued or purged while a worker holds it" in html
    assert "busy-worker" in html
    assert "Purge…" not in html


def test_detail_of_a_missing_task_is_404_with_a_message(admin_client):
    response = admin_client.get(detail_path("nope"))
    assert response.status_code == 404
    assert "No task <code>nope</code>" in response.content.decode()


def test_jump_box_goes_to_the_task_or_back_with_a_message(admin_client, backend):
    result = tasks.noop.enqueue()
    response = admin_client.get(f"{BASE}default/jump/", {"id": f"  {result.id} "})
    assert response.status_code == 302
    assert response.url == detail_path(result.id)
    response = admin_client.get(
        f"{BASE}default/jump/", {"id": "missing", "next": list_path("ready")}, follow=True
    )
    assert response.redirect_chain[-1][0] == list_path("ready")
    assert "No task &#x27;missing&#x27;" in response.content.decode()
    offsite = admin_client.get(f"{BASE}default/jump/", {"id": "x", "next": "https://evil.example/"})
    assert offsite.url == BASE


def test_workers_page_shows_pools_from_heartbeats(admin_client, backend):
    tasks.noop.enqueue()
    running = lease_next(backend)
    fake_heartbeat(backend, running=running)
    response = admin_client.get(f"{BASE}default/workers/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "web-1.example" in html
    assert "1</span> of 2 threads busy" in html
    assert detail_path(running.task_id) in html
    assert "tests.tasks.noop" in html
    assert "48.0 MiB" in html
    assert "1,234" in html
    assert "stale" not in html.split("<h2>", 2)[-1].split("</h2>")[0]


def test_workers_page_flags_a_stale_pool(admin_client, backend, rclient):
    fake_heartbeat(backend)
    rclient.hset(backend.keys.pool("pool-1"), "seen_at", 1)  # last heartbeat long ago
    html = admin_client.get(f"{BASE}default/workers/").content.decode()
    assert "stale: no heartbeat for" in html


def test_htmx_refresh_returns_only_the_live_fragment(admin_client, backend):
    tasks.noop.enqueue()
    headers = {"HX-Request": "true", "HX-Target": "tm-live"}
    for path in (BASE, list_path("ready"), f"{BASE}default/workers/"):
        html = admin_client.get(path, headers=headers).content.decode()
        assert "<html" not in html, path
        assert 'id="tm-live"' not in html, path  # the fragment goes inside it
    full = admin_client.get(list_path("ready")).content.decode()
    assert 'id="tm-live"' in full
    assert 'hx-trigger="tm-refresh"' in full
    assert "htmx-2.min.js" in full  # served locally by django-htmx
    assert "<script>" not in full
    assert " onclick=" not in full


def test_refresh_interval_setting_and_query_param(admin_client):
    assert 'data-tm-refresh="5.0"' in admin_client.get(BASE).content.decode()
    with override_settings(THREADMILL_ADMIN={"REFRESH_SECONDS": 2}):
        assert 'data-tm-refresh="2.0"' in admin_client.get(BASE).content.decode()
    assert 'data-tm-refresh="0.5"' in admin_client.get(BASE + "?refresh=0.5").content.decode()
    assert "data-tm-refresh" not in admin_client.get(BASE + "?refresh=0").content.decode()


def test_history_links_lead_to_the_task(admin_client, admin_user, backend):
    result = tasks.noop.enqueue()
    entry = LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Task, for_concrete_model=False),
        object_id=f"default:{result.id}",
        object_repr=result.id,
        action_flag=CHANGE,
    )
    response = admin_client.get(entry.get_admin_url())
    assert response.status_code == 302
    assert response.url == detail_path(result.id)


# ---- permissions ------------------------------------------------------------------------

PAGES = [BASE, list_path("ready"), detail_path("x"), f"{BASE}default/workers/"]


def test_anonymous_users_are_sent_to_login(client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url.startswith("/admin/login/"), path


def test_non_staff_users_are_sent_to_login():
    user = make_user("outsider", "view_task", staff=False)
    response = client_for(user).get(BASE)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_staff_without_view_permission_gets_403_and_no_index_entry():
    client = client_for(make_user("staff"))
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert f'href="{BASE}"' not in client.get("/admin/").content.decode()


def test_viewer_sees_pages_but_no_action_buttons(backend):
    tasks.fail.enqueue()
    lease = fail_next(backend)
    client = client_for(make_user("viewer", "view_task"))
    assert f'href="{BASE}"' in client.get("/admin/").content.decode()
    for path in (BASE, list_path("failed"), detail_path(lease.task_id)):
        html = client.get(path).content.decode()
        assert "Requeue" not in html, path
        assert "Purge" not in html, path
        assert 'name="ids"' not in html, path


def test_requeuer_sees_requeue_but_not_purge(backend):
    tasks.fail.enqueue()
    lease = fail_next(backend)
    client = client_for(make_user("requeuer", "view_task", "requeue_task"))
    html = client.get(list_path("failed")).content.decode()
    assert "Requeue selected" in html
    assert "Requeue all failed" in html
    assert "Purge" not in html
    html = client.get(detail_path(lease.task_id)).content.decode()
    assert "Requeue…" in html
    assert "Purge…" not in html


def test_permissions_can_come_from_a_group(backend):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="operators")
    group.permissions.add(*Permission.objects.filter(codename__in=["view_task", "purge_task"]))
    user = make_user("op")
    user.groups.add(group)
    tasks.noop.enqueue()
    html = client_for(user).get(list_path("ready")).content.decode()
    assert "Purge selected" in html


# ---- Redis down ---------------------------------------------------------------------------


@pytest.fixture
def with_down_alias(redis_server):
    setting = tasks_setting(redis_server.url)
    setting["down"] = {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "REDIS_URL": f"redis://:secret@127.0.0.1:{free_port()}/0",
        "OPTIONS": {"retry_attempts": 0, "socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    with override_settings(TASKS=setting):
        yield


def test_a_dead_redis_shows_a_banner_not_a_server_error(admin_client, with_down_alias):
    tasks.noop.enqueue()
    response = admin_client.get(BASE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Backend “down” is unavailable" in html
    assert "secret" not in html  # the password is masked
    assert 'href="' + list_path("ready") + '">1</a>' in html  # the healthy alias still shows
    for path in (
        list_path("ready", alias="down"),
        detail_path("x", alias="down"),
        f"{BASE}down/workers/",
        f"{BASE}down/queues/default/failed/all/requeue/",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert "Backend “down” is unavailable" in response.content.decode(), path


def test_actions_on_a_dead_redis_report_an_error(admin_client, with_down_alias):
    response = admin_client.post(
        f"{BASE}down/selected/requeue/",
        {"ids": ["a"], "confirmed": "1", "next": BASE},
        follow=True,
    )
    assert response.status_code == 200
    assert "did not complete" in response.content.decode()
    response = admin_client.post(
        f"{BASE}down/queues/default/failed/all/purge/", {"confirmed": "1"}, follow=True
    )
    assert response.status_code == 200
    assert "The job could not be recorded" in response.content.decode()


def test_a_list_filtered_by_task_name_pages_forward_and_escapes_the_filter(admin_client, backend):
    adds = [tasks.add.enqueue(i, i) if i % 3 == 0 else tasks.noop.enqueue() for i in range(12)]
    wanted = [r.id for r in adds if r.task.name == "add"]
    response = admin_client.get(list_path("ready") + "?name=tasks.add&limit=2")
    assert [t.id for t in response.context["page"].items] == wanted[:2]
    html = response.content.decode()
    assert 'value="tasks.add"' in html  # the filter stays in its box
    assert "searched 1\N{EN DASH}4 of <strong" in html
    assert "offset=4" in html  # Next continues the scan where it stopped
    assert "name=tasks.add" in html
    deeper = admin_client.get(list_path("ready") + "?name=tasks.add&limit=2&offset=4")
    assert [t.id for t in deeper.context["page"].items] == wanted[2:4]
    hostile = admin_client.get(list_path("ready") + "?name=<script>alert(1)</script>")
    assert hostile.status_code == 200
    assert "<script>alert(1)" not in hostile.content.decode()
    assert "No task where task contains" in hostile.content.decode()
