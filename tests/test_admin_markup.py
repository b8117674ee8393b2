"""Every Threadmill admin page's links are well formed: each `<a>` is closed before the next
one opens (a link left open swallows the links after it, and browsers repair it in ways that
differ). Checked with the standard library's HTML parser over a page of each kind."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests import tasks
from tests.admin_helpers import fail_next, fake_heartbeat, succeed_next

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"


class LinkChecker(HTMLParser):
    """Records every `<a>` opened inside another, and every `</a>` with none open."""

    def __init__(self) -> None:
        super().__init__()
        self.open_at: tuple[int, int] | None = None
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag != "a":
            return
        if self.open_at is not None:
            self.problems.append(f"<a> at {self.getpos()} inside the <a> of {self.open_at}")
        self.open_at = self.getpos()

    def handle_endtag(self, tag):
        if tag != "a":
            return
        if self.open_at is None:
            self.problems.append(f"</a> at {self.getpos()} closes nothing")
        self.open_at = None

    def close(self) -> None:
        super().close()
        if self.open_at is not None:
            self.problems.append(f"<a> of {self.open_at} is never closed")


def test_every_page_closes_its_links(admin_client, backend):
    tasks.add.enqueue(1, 2)
    succeed_next(backend)
    tasks.fail.enqueue("x")
    failed = fail_next(backend)
    fake_heartbeat(backend)
    pages = [
        BASE,
        f"{BASE}?chart=day",
        f"{BASE}default/queues/default/failed/?error=ValueError",
        f"{BASE}default/queues/default/successful/",
        f"{BASE}default/tasks/{failed.task_id}/",
        f"{BASE}default/workers/",
        f"{BASE}default/schedules/",
        f"{BASE}default/metrics/",
        f"{BASE}default/metrics/tests.tasks.fail/?queue=default",
        f"{BASE}default/jobs/",
    ]
    for path in pages:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        checker = LinkChecker()
        checker.feed(response.content.decode())
        checker.close()
        assert checker.problems == [], path
