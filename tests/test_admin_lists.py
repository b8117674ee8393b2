"""What the task lists show an operator (issue 20): the running list's "running for" and
lease deadline, the failed list's exception class with the first line of its message,
arguments in short (in full on hover), the queue switcher keeping the search, and the
action buttons above a long list too."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from tests import tasks
from tests.admin_helpers import fail_next, lease_next

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"


def list_path(state: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/"


def cells(html: str, task_id: str) -> list[str]:
    """The text of each cell of the task's row."""
    row = re.search(rf'<tr data-task-id="{task_id}">(.*?)</tr>', html, re.S)
    assert row, task_id
    parts = re.findall(r"<t([hd])([^>]*)>(.*?)</t[hd]>", row.group(1), re.S)
    return [
        htmllib.unescape(re.sub(r"<[^>]+>", "", text)).strip()
        for _, attrs, text in parts
        if "action-checkbox" not in attrs  # the selection box
    ]


def test_the_running_list_shows_running_for_and_the_lease_deadline(admin_client, backend):
    tasks.noop.enqueue()
    lease = lease_next(backend)
    html = admin_client.get(list_path("running")).content.decode()
    assert '<th scope="col">Running for</th>' in html
    assert '<th scope="col">Lease until</th>' in html
    row = cells(html, lease.task_id)
    running_for, lease_until = row[4], row[5]
    assert re.fullmatch(r"\d+ (ms|s)", running_for), running_for  # leased just now
    assert re.fullmatch(r"\d\d:\d\d:\d\d", lease_until), lease_until  # today: a time
    assert backend.get_task(lease.task_id).lease_deadline is not None


def test_the_failed_list_shows_the_class_and_the_first_line_of_the_message(admin_client, backend):
    tasks.fail.enqueue("x")
    task_id = fail_next(backend, message="card declined\nsecond line of detail").task_id
    html = admin_client.get(list_path("failed")).content.decode()
    error = cells(html, task_id)[-1]
    assert error.startswith("ValueError card declined")
    assert "second line" not in error


def test_arguments_are_short_with_the_whole_on_hover(admin_client, backend):
    long_text = "acct-42 " + "x" * 300
    result = tasks.echo.enqueue(long_text)
    html = admin_client.get(list_path("ready")).content.decode()
    shown = cells(html, result.id)[2]
    assert shown.startswith('("acct-42 xxx')
    assert shown.endswith("…")
    assert len(shown) <= 41
    titles = re.findall(r'<code class="tm-args" title="([^"]*)"', html)
    assert any(long_text in htmllib.unescape(t) for t in titles)


def test_the_queue_switcher_keeps_the_state_and_the_search(admin_client, backend):
    tasks.noop.using(queue_name="high").enqueue()
    html = admin_client.get(list_path("failed"), {"error": "KeyError"}).content.decode()
    switch = re.search(r'<nav class="tm-queue-switch".*?</nav>', html, re.S).group(0)
    assert '<strong aria-current="page">default</strong>' in switch
    assert f'href="{list_path("failed", "high")}?error=KeyError"' in switch


def test_a_long_list_has_the_action_buttons_above_it_too(admin_client, backend):
    for n in range(25):
        tasks.fail.enqueue(n)
        fail_next(backend)
    long_page = admin_client.get(list_path("failed")).content.decode()
    assert long_page.count("Requeue selected…") == 2
    assert "tm-actions-top" in long_page
    short_page = admin_client.get(list_path("failed"), {"limit": 5}).content.decode()
    assert short_page.count("Requeue selected…") == 1
