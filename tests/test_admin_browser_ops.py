"""The operator's admin defects (issue 20) in a real browser (Playwright, Debian's headless
chromium): an ended session sends the live page to the login page (and a refresh that
something in front of the admin redirects is never pasted into the page), a running task's page
refreshes until the task finishes and then stops, the filter summary of a list is one line
of text."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests import tasks
from tests.admin_helpers import lease_next
from tests.browser_helpers import browser as browser  # the fixtures
from tests.browser_helpers import log_in
from tests.browser_helpers import page as page
from tests.test_admin_browser import count_refreshes, refreshes


def test_an_ended_session_stops_the_live_refresh_and_shows_the_login_page(
    live_server, transactional_db, admin_user, backend, page
):
    base = live_server.url + "/admin"
    log_in(page, base)
    page.goto(f"{base}/threadmill/task/?refresh=0.3")
    expect(page.locator("#alias-default table.tm-counts")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    page.context.clear_cookies()  # the session is gone (expired, or logged out elsewhere)
    page.wait_for_url(re.compile(r"/admin/login/\?next="))
    expect(page.locator("#id_username")).to_be_visible()
    assert "/admin/threadmill/task/" in page.url  # `next` leads back to the page
    assert page.evaluate("window.__sameDocument === undefined")  # a new document
    expect(page.locator("#tm-live")).to_have_count(0)  # no login form inside a live region
    assert page.csp_violations == []


def test_a_refresh_redirected_to_a_login_page_is_not_pasted_into_the_page(
    live_server, transactional_db, admin_user, backend, page
):
    """What live.js does when something in front of the admin (a proxy, single sign-on)
    redirects the refresh itself: the region keeps its content and the page reloads."""
    base = live_server.url + "/admin"
    log_in(page, base)
    page.goto(f"{base}/threadmill/task/?refresh=0.3")
    expect(page.locator("#alias-default table.tm-counts")).to_be_visible()
    sso = f"{live_server.url}/sso/login/"
    overview = re.compile(r"/admin/threadmill/task/\?refresh=0\.3$")

    def redirect_refreshes(route):
        if route.request.headers.get("hx-request"):
            route.fulfill(status=302, headers={"Location": sso})
        else:
            route.continue_()

    page.route(sso, lambda route: route.fulfill(body='<form><input id="id_username"></form>'))
    page.route(overview, redirect_refreshes)
    page.evaluate("window.__sameDocument = true")
    with page.expect_navigation():  # the reload
        pass
    expect(page.locator("#alias-default table.tm-counts")).to_be_visible()
    assert page.evaluate("window.__sameDocument === undefined")
    expect(page.locator("#tm-live #id_username")).to_have_count(0)
    page.unroute(overview)


def test_a_running_tasks_page_refreshes_until_it_finishes_then_stops(
    live_server, transactional_db, admin_user, backend, page
):
    task_id = tasks.noop.enqueue().id
    lease = lease_next(backend)
    base = live_server.url + "/admin"
    log_in(page, base)
    page.goto(f"{base}/threadmill/task/default/tasks/{task_id}/?refresh=0.3")
    expect(page.locator(".tm-state")).to_have_text("RUNNING")
    page.evaluate("window.__sameDocument = true")
    backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    expect(page.locator(".tm-state")).to_have_text("SUCCESSFUL")
    expect(page.locator("text=Requeue…")).to_be_visible()  # the buttons of a finished task
    assert page.evaluate("window.__sameDocument") is True  # refreshed in place
    count_refreshes(page)
    page.wait_for_timeout(1500)  # five intervals: none may fire now
    assert refreshes(page) == 0
    assert page.csp_violations == []


def test_the_filter_summary_is_one_line_of_text(
    live_server, transactional_db, admin_user, backend, page
):
    for i in range(6):
        (tasks.add.enqueue(i, i) if i % 2 else tasks.noop.enqueue())
    base = live_server.url + "/admin"
    log_in(page, base)
    page.set_viewport_size({"width": 1900, "height": 900})
    page.goto(f"{base}/threadmill/task/default/queues/default/ready/?name=tasks.add&refresh=0")
    summary = page.locator(".tm-summary")
    expect(summary).to_contain_text("task contains")
    layout = summary.evaluate(
        """p => {
          const style = getComputedStyle(p);
          return {
            display: style.display,
            children: Array.from(p.children).map(c => getComputedStyle(c).display),
            height: p.getBoundingClientRect().height,
            line: parseFloat(style.lineHeight),
          };
        }"""
    )
    assert layout["display"] == "block"  # not Django 6's flex .paginator: no columns
    assert set(layout["children"]) <= {"inline"}
    assert layout["height"] < 1.5 * layout["line"], layout  # one line at this width
