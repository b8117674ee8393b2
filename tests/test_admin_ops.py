"""The operator's admin defects (issue 20) through Django's test client and real Redis:
pagination links of filtered lists, requeue buttons that are not red, the styled 403 page,
htmx refreshes of an ended session, the overview's totals, a running task's live page,
"Go to task id" by the start of an id, the django-htmx system checks, and pages that answer
within ~2 s while Redis is stopped or frozen."""

from __future__ import annotations

import re
import time

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.test.utils import modify_settings

from tests import tasks
from tests.admin_helpers import fail_next, lease_next, make_user, succeed_next
from threadmill.backends.display import display_reads
from threadmill.backends.prefix_search import find_task_ids
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"
HTMX = {"HX-Request": "true", "HX-Target": "tm-live"}


def list_path(state: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/"


def detail_path(task_id: str) -> str:
    return f"{BASE}default/tasks/{task_id}/"


def jump(client: Client, task_id: str):
    client.cookies.pop("messages", None)  # the messages of the last jump were not shown
    return client.get(f"{BASE}default/jump/", {"id": task_id, "next": BASE})


def messages_of(response) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


def page_links(html: str) -> dict[str, str]:
    """Word of its text ("First", "Previous", ...) -> href of every pagination link."""
    nav = re.search(r'<nav class="paginator tm-pages".*?</nav>', html, re.S)
    assert nav, "no pagination"
    found = re.findall(r'<a href="([^"]*)"[^>]*>[^<\w]*(\w+)[^<]*</a>', nav[0])
    return {word: href for href, word in found}


# ---- 2, 3: the summary line and pagination links of lists ---------------------------------


def test_every_pagination_link_of_a_filtered_page_is_real_and_keeps_the_filter(
    admin_client, backend
):
    for i in range(12):
        (tasks.add.enqueue(i, i) if i % 3 == 0 else tasks.noop.enqueue())
    html = admin_client.get(list_path("ready") + "?name=tasks.add&limit=2&offset=4").content
    links = page_links(html.decode())
    assert set(links) == {"First", "Next"}  # a filtered page goes forward only
    for text, href in links.items():
        assert href.startswith("?"), text
        assert "name=tasks.add" in href, text
        assert "limit=2" in href, text
    assert "offset=0" in links["First"]
    assert 'href=""' not in html.decode()
    # unfiltered, in the middle: all four, each a real link
    html = admin_client.get(list_path("ready") + "?limit=3&offset=3").content.decode()
    links = page_links(html)
    assert set(links) == {"First", "Previous", "Next", "Last"}
    assert all(href.startswith("?") for href in links.values()), links
    assert all("offset=" in href for href in links.values()), links


def test_the_summary_is_not_styled_as_a_paginator(admin_client, backend):
    tasks.add.enqueue(1, 1)
    html = admin_client.get(list_path("ready") + "?name=tasks.add").content.decode()
    assert '<p class="tm-summary">' in html  # Django 6's .paginator is a flex row


# ---- 6: requeue is not red -----------------------------------------------------------------


def test_requeue_confirmations_use_the_default_button_and_purge_the_red_one(admin_client, backend):
    tasks.fail.enqueue()
    failed = fail_next(backend).task_id

    def submit_class(path: str, data: dict) -> str:
        html = admin_client.get(path, data).content.decode()
        [found] = re.findall(r'<input type="submit" value="Yes,[^"]*"[^>]*class="([^"]*)"', html)
        return found

    assert submit_class(f"{BASE}default/selected/requeue/", {"ids": failed}) == "default"
    assert submit_class(f"{BASE}default/selected/purge/", {"ids": failed}) == "tm-danger"
    batch = f"{BASE}default/queues/default/failed/all/"
    assert submit_class(batch + "requeue/", {}) == "default"
    assert submit_class(batch + "purge/", {}) == "tm-danger"


# ---- 7: the styled 403 page ------------------------------------------------------------------


def test_staff_without_permission_gets_the_admins_page_naming_it(backend):
    client = Client()
    client.force_login(make_user("staffer"))
    response = client.get(BASE)
    assert response.status_code == 403
    assert "threadmill/forbidden.html" in [t.name for t in response.templates]
    assert "admin/base_site.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "<code>threadmill.view_task</code>" in html
    assert "“Can view task”" in html
    assert 'id="site-name"' in html  # the admin's header
    # a viewer who tries to purge is told about purge only
    tasks.noop.enqueue()
    client.force_login(make_user("viewer", "view_task"))
    refused = client.post(f"{BASE}default/selected/purge/", {"ids": ["x"], "confirmed": "1"})
    assert refused.status_code == 403
    html = refused.content.decode()
    assert "<code>threadmill.purge_task</code>" in html
    assert "threadmill.view_task" not in html


# ---- 1: live refresh of an ended session ---------------------------------------------------


def test_a_live_refresh_without_a_session_asks_for_a_reload_not_the_login_page(admin_user):
    anonymous = Client()
    for path in (BASE, list_path("ready"), detail_path("x")):
        refresh = anonymous.get(path, headers=HTMX)
        assert refresh.status_code == 200, path
        assert refresh["HX-Refresh"] == "true", path
        assert refresh.content == b"", path
        page = anonymous.get(path)  # the reload: the admin's login redirect, as before
        assert page.status_code == 302, path
        assert "/admin/login/" in page["Location"], path
    non_staff = Client()
    non_staff.force_login(make_user("customer", staff=False))
    assert non_staff.get(BASE, headers=HTMX)["HX-Refresh"] == "true"
    staff = Client()
    staff.force_login(admin_user)
    live = staff.get(BASE, headers=HTMX)
    assert "HX-Refresh" not in live
    assert b"tm-counts" in live.content


# ---- 8: totals, a running task's live page --------------------------------------------------


def test_the_overview_has_a_totals_row(admin_client, backend):
    tasks.noop.enqueue()
    tasks.noop.enqueue()
    tasks.urgent.enqueue(1)
    tasks.urgent.enqueue(2)
    lease_next(backend, queues=["high"])
    tasks.fail.enqueue()
    fail_next(backend, queues=["default"])
    response = admin_client.get(BASE)
    [section] = response.context["sections"]
    totals = section.totals
    assert (totals.ready, totals.running, totals.failed) == (3, 1, 1)
    html = response.content.decode()
    foot = re.search(r'<tfoot class="tm-totals">.*?</tfoot>', html, re.S)[0]
    assert "All queues" in foot
    assert 'data-state="ready">3</td>' in foot
    assert 'data-state="running">1</td>' in foot
    assert 'data-state="failed">1</td>' in foot


def test_a_running_tasks_page_refreshes_until_it_finishes(admin_client, backend):
    task_id = tasks.noop.enqueue().id
    lease = lease_next(backend)
    html = admin_client.get(detail_path(task_id) + "?refresh=2").content.decode()
    assert 'data-tm-refresh="2.0"' in html
    assert 'hx-swap="outerHTML"' in html
    live = admin_client.get(detail_path(task_id) + "?refresh=2", headers=HTMX).content.decode()
    assert live.lstrip().startswith('<div id="tm-live"')
    assert "data-tm-refresh" in live
    assert "RUNNING" in live
    assert "<html" not in live
    backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    live = admin_client.get(detail_path(task_id) + "?refresh=2", headers=HTMX).content.decode()
    assert "SUCCESSFUL" in live
    assert "data-tm-refresh" not in live  # polling ends
    assert "hx-get" not in live
    assert "data-tm-refresh" not in admin_client.get(detail_path(task_id)).content.decode()
    # a task purged meanwhile: a 200 fragment (htmx swaps it) that ends polling, 404 page
    backend.purge([task_id])
    gone = admin_client.get(detail_path(task_id), headers=HTMX)
    assert gone.status_code == 200
    assert "data-tm-refresh" not in gone.content.decode()
    assert admin_client.get(detail_path(task_id)).status_code == 404


# ---- 4: go to a task by the start of its id ---------------------------------------------------


def test_go_to_task_accepts_the_twelve_characters_top_prints(admin_client, backend):
    tasks.fail.enqueue()
    failed = fail_next(backend).task_id
    ready = tasks.noop.enqueue().id
    for task_id in (failed, ready):
        response = jump(admin_client, task_id[:12])
        assert response.status_code == 302
        assert response["Location"] == detail_path(task_id)
    assert jump(admin_client, ready)["Location"] == detail_path(ready)  # whole ids as before


def test_go_to_task_explains_an_ambiguous_prefix_and_no_match(admin_client, backend, rclient):
    tasks.noop.enqueue()
    index = backend.keys.index("default", "failed")
    rclient.zadd(index, {"abcd" + "1" * 28: 1, "abcd" + "2" * 28: 2})
    response = jump(admin_client, "abcd")
    assert response["Location"] == BASE
    [message] = messages_of(response)
    assert "'abcd' is the start of several task ids" in message
    assert "abcd1111" in message
    assert "abcd2222" in message
    assert "type more characters" in message
    [none] = messages_of(jump(admin_client, "ffff0000"))
    assert "No task 'ffff0000' in backend “default”, and no task id starts with it" in none
    assert "looked at all 3 tasks" in none
    [short] = messages_of(jump(admin_client, "abc"))
    assert "at least 4 characters" in short


def test_the_prefix_search_is_bounded_and_literal(backend, rclient):
    index = backend.keys.index("default", "successful")
    with rclient.pipeline(transaction=False) as pipe:
        for start in range(0, 6000, 1000):
            pipe.zadd(index, {f"{n:032x}": n for n in range(start, start + 1000)})
        pipe.execute()
    rclient.zadd(index, {"beef" + "0" * 28: 1})
    hit = find_task_ids(backend.store, ["default"], "beef00")
    assert hit.matches == ["beef" + "0" * 28]
    assert hit.complete
    assert hit.total == 6001
    assert hit.examined == 6001
    bounded = find_task_ids(backend.store, ["default"], "zzzz", budget=2000)
    assert bounded.matches == []
    assert not bounded.complete
    assert 2000 <= bounded.examined < 3000
    rclient.zadd(index, {"ab*cdef": 1, "abXcdef": 2})
    assert find_task_ids(backend.store, ["default"], "ab*c").matches == ["ab*cdef"]


# ---- 10: django-htmx is a system check --------------------------------------------------------


def test_a_missing_django_htmx_is_a_check_error():
    no_middleware = modify_settings(
        MIDDLEWARE={"remove": ["django_htmx.middleware.HtmxMiddleware"]}
    )
    with no_middleware, pytest.raises(SystemCheckError, match=r"threadmill\.E031"):
        call_command("check", tags=["admin"])
    no_app = modify_settings(INSTALLED_APPS={"remove": ["django_htmx"]})
    with no_app, pytest.raises(SystemCheckError, match=r"threadmill\.E030") as raised:
        call_command("check", tags=["admin"])
    assert "HINT: Add 'django_htmx' to INSTALLED_APPS" in str(raised.value)
    call_command("check", tags=["admin"])  # configured: no error


# ---- 9: Redis stopped or frozen ------------------------------------------------------------------


def timed_get(client: Client, path: str) -> tuple[float, str]:
    start = time.monotonic()
    response = client.get(path)
    elapsed = time.monotonic() - start
    assert response.status_code == 200, (path, response.status_code)
    return elapsed, response.content.decode()


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_admin_pages_answer_within_two_seconds_while_redis_is_down(
    admin_client, disposable_redis, make_backend, fault
):
    server = disposable_redis()
    schedules = {"sync": {"task": "tests.tasks.noop", "every": 3600}}
    # default options: socket_timeout 5 s, 3 retries
    backend = make_backend(server.url, {"schedules": schedules})
    tasks.noop.enqueue()
    succeed_next(backend)  # run metrics for the task page
    task_id = tasks.noop.enqueue().id
    job = backend.create_job("purge", "default", TaskState.FAILED, TaskFilter(), who="t")
    pages = [  # every page a GET reaches
        BASE,
        list_path("ready"),
        list_path("failed") + "?error=KeyError&args=x",
        f"{BASE}default/queues/default/deferred/?retrying=1",
        detail_path(task_id),
        f"{BASE}default/workers/",
        f"{BASE}default/schedules/",
        f"{BASE}default/metrics/",
        f"{BASE}default/metrics/tests.tasks.noop/?queue=default",
        f"{BASE}default/jobs/",
        f"{BASE}default/jobs/{job.id}/",
        f"{BASE}default/queues/default/failed/all/requeue/",
    ]
    for path in pages:  # connections open and pooled, as on a busy admin
        assert "is unavailable" not in timed_get(admin_client, path)[1], path
    server.stop() if fault == "stopped" else server.pause()
    try:
        for path in pages:
            elapsed, html = timed_get(admin_client, path)
            print(f"{fault}: {path} {elapsed * 1000:.0f} ms")
            assert "is unavailable" in html or "did not answer" in html, path
            assert elapsed < 2.0, (path, elapsed)
        start = time.monotonic()  # "Go to task id": a redirect or a message, fast
        admin_client.get(f"{BASE}default/jump/?id={task_id[:12]}")
        assert time.monotonic() - start < 2.0
    finally:
        if fault == "frozen":
            server.resume()
    # outside the admin the command client keeps its socket timeout and retries
    assert backend.store.reader is backend.store.client
    kwargs = backend.store.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 5.0
    with display_reads():
        reads = backend.store.reader
    assert reads is not backend.store.client
    assert reads.connection_pool.connection_kwargs["socket_timeout"] == 1.0


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_threadmill_top_shows_a_redis_outage_within_two_seconds(
    disposable_redis, make_backend, fault
):
    from threadmill.top.snapshot import Sampler

    server = disposable_redis()
    sampler = Sampler(make_backend(server.url))
    assert sampler.sample().reachable
    server.stop() if fault == "stopped" else server.pause()
    try:
        start = time.monotonic()
        frame = sampler.sample()
        elapsed = time.monotonic() - start
    finally:
        if fault == "frozen":
            server.resume()
    assert not frame.reachable
    assert frame.error
    assert elapsed < 2.0


@pytest.mark.cluster
def test_display_reads_and_the_prefix_search_work_on_a_cluster(redis_cluster, make_backend):
    redis_cluster.flushall()
    backend = make_backend(redis_cluster.url)
    task_id = tasks.noop.enqueue().id
    with display_reads():
        reads = backend.store.reader
        assert reads is not backend.store.client
        overview = backend.overview()
        assert overview.queues[0].ready == 1
        assert overview.server.reachable
        assert backend.get_task(task_id).id == task_id
        assert backend.find_task_ids(task_id[:12]).matches == [task_id]
