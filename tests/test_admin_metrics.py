"""The admin's run-metrics pages through Django's test client: the overview's runs chart and
its links to a minute's failures (the failed list's ?since=&until=), the Metrics page (rows,
sorting), a task path's page (histogram, failures by class), permissions, metrics off."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.test import Client

from tests import tasks
from tests.admin_helpers import fail_next, make_user, retry_next, succeed_next

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def runs(backend) -> None:
    """2 successful adds, 2 failed fails, 1 retried fail (all in the default queue)."""
    for n in range(2):
        tasks.add.enqueue(n, 1)
        succeed_next(backend)
    for _ in range(2):
        tasks.fail.enqueue()
        fail_next(backend)
    tasks.fail.enqueue()
    retry_next(backend)


def test_overview_chart_counts_runs_and_links_a_minute_to_its_failures(admin_client, backend):
    runs(backend)
    html = admin_client.get(BASE).content.decode()
    chart = re.search(r'<div class="tm-chart" id="chart-default"[^>]*>', html).group(0)
    assert 'data-processed="4"' in chart
    assert 'data-failed="2"' in chart
    assert html.count('class="tm-bar"') == 60
    assert "Metrics of “default”" in html
    links = re.findall(r'<a href="([^"]+)" class="tm-bar-link">', html)
    assert len(links) == 1
    failures = admin_client.get(unescape(links[0])).content.decode()
    assert re.search(r"where since \S+, until \S+;", failures)
    assert failures.count("tests.tasks.fail") >= 2
    assert re.search(r'class="tm-total">2<', failures)
    day = admin_client.get(BASE + "?chart=day").content.decode()
    assert day.count('class="tm-bar"') == 144
    assert "Runs per 10 minutes, last day" in day


def test_failed_list_honors_since_and_until(admin_client, backend):
    tasks.fail.enqueue()
    lease = fail_next(backend)
    finished = backend.get_task(lease.task_id).finished_at.timestamp()
    path = f"{BASE}default/queues/default/failed/"

    def iso(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, tz=UTC).isoformat()

    inside = admin_client.get(path, {"since": iso(finished - 1), "until": iso(finished + 1)})
    assert lease.task_id in inside.content.decode()
    before = admin_client.get(path, {"since": iso(finished - 100), "until": iso(finished - 50)})
    assert lease.task_id not in before.content.decode()
    bad = admin_client.get(path, {"since": "yesterday"})
    assert "is not a date or time" in bad.content.decode()


def test_metrics_page_rows_sort_and_link_to_a_task_page(admin_client, backend):
    runs(backend)
    html = admin_client.get(f"{BASE}default/metrics/").content.decode()
    rows = re.findall(r'<tr class="tm-metric-row" data-path="([^"]+)">', html)
    assert rows == ["tests.tasks.fail", "tests.tasks.add"]  # most runs first
    by_rate = admin_client.get(f"{BASE}default/metrics/", {"sort": "failure_rate"})
    rows = re.findall(r'data-path="([^"]+)"', by_rate.content.decode())
    assert rows == ["tests.tasks.add", "tests.tasks.fail"]
    assert "100.0 %" in html
    assert "builtins.ValueError" in html
    task = admin_client.get(f"{BASE}default/metrics/tests.tasks.fail/", {"queue": "default"})
    page = task.content.decode()
    assert task.status_code == 200
    assert re.search(r'data-class="builtins.ValueError"', page)
    assert page.count('class="tm-hist-row"') >= 1
    assert "2 failed, 1 retried" in page
    assert (
        admin_client.get(f"{BASE}default/metrics/tests.tasks.fail/", {"queue": "nope"}).status_code
        == 404
    )


def test_metrics_pages_need_the_view_permission(backend):
    runs(backend)
    outsider = client_for(make_user("staff"))
    for path in (f"{BASE}default/metrics/", f"{BASE}default/metrics/tests.tasks.add/"):
        assert outsider.get(path, {"queue": "default"}).status_code == 403
    viewer = client_for(make_user("viewer", "view_task"))
    assert viewer.get(f"{BASE}default/metrics/").status_code == 200
    live = viewer.get(
        f"{BASE}default/metrics/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="tm-live"
    ).content.decode()
    assert "<html" not in live
    assert "tm-metric-row" in live


def test_metrics_off_says_so(admin_client, make_backend, redis_server):
    make_backend(redis_server.url, {"metrics_window": 0})
    assert "tm-chart" not in admin_client.get(BASE).content.decode()
    html = admin_client.get(f"{BASE}default/metrics/").content.decode()
    assert "Run metrics are off" in html
