"""The admin's search and bulk jobs in a real browser (Playwright, Debian's chromium): a
search typed in the form is a URL that another user opens to the same results; the failed
list fits a 1280 px window with the sidebar open; "requeue all matching" records a job
whose page refreshes itself to done; all under the strict Content-Security-Policy."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.admin_helpers import make_user
from tests.browser_helpers import browser as browser  # the browser fixture
from tests.browser_helpers import logged_in
from tests.search_helpers import make_failed
from threadmill.backends.records import TaskState


@pytest.fixture
def colleague(transactional_db):
    return make_user("colleague", "view_task")


def test_a_search_is_a_url_another_user_opens_and_a_bulk_job_runs_from_it(
    live_server, transactional_db, admin_user, colleague, backend, browser
):
    # `browser` comes last: Playwright's sync API runs an event loop in this thread, and
    # Django refuses database work (creating users) while one runs.
    wanted = make_failed(backend, 3, "myapp.errors.Timeout", "host-a", arg="acct-42")
    make_failed(backend, 2, "myapp.errors.Timeout", "host-b", arg="acct-42")
    make_failed(backend, 2, "builtins.KeyError", "host-a", arg="acct-42")
    base = live_server.url + "/admin"
    page = logged_in(browser, base, "admin", "password")

    # 1. Typed in the form, the search becomes the page's address.
    page.goto(f"{base}/threadmill/task/default/queues/default/failed/?refresh=0")
    page.fill("input[name=error]", "Timeout")
    page.fill("input[name=worker]", "host-a")
    page.click("form.tm-search button[type=submit]")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    assert "error=Timeout" in page.url
    assert "worker=host-a" in page.url
    shared = page.url
    rows = {
        page.locator("#result_list tbody tr").nth(i).get_attribute("data-task-id") for i in range(3)
    }
    assert rows == set(wanted)
    if os.environ.get("THREADMILL_ARTIFACTS"):
        page.screenshot(path=f"{os.environ['THREADMILL_ARTIFACTS']}/search.png", full_page=True)
    # The failed list fits 1280 px with the admin's sidebar open: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    full_time = page.locator("#result_list tbody tr").first.locator("time")
    assert full_time.get_attribute("title").count(":") >= 2  # the full timestamp on hover

    # 2. Another user opens the shared address: same results, same form values.
    other = logged_in(browser, base, "colleague", "pw")
    other.goto(shared)
    expect(other.locator("#result_list tbody tr")).to_have_count(3)
    expect(other.locator("input[name=error]")).to_have_value("Timeout")
    expect(other.locator("input[name=worker]")).to_have_value("host-a")
    expect(other.locator("text=Requeue all matching")).to_have_count(0)  # view only

    # 3. Requeue all matching: a job, whose page refreshes itself until it is done.
    page.click("text=Requeue all matching…")
    page.click("input[type=submit][value^='Yes, requeue']")
    expect(page.locator(".tm-no-pool")).to_be_visible()  # no pool runs: it waits
    page.goto(page.url + "?refresh=0.3")
    [job] = backend.jobs()
    while backend.run_job_chunk(job.id)[0] == "running":  # as a pool's broker would
        pass
    expect(page.locator(".tm-job-status strong")).to_have_text("done")
    expect(page.locator(".tm-acted")).to_have_text("3")
    assert {backend.get_task(i).state for i in wanted} == {TaskState.READY}
    assert page.csp_violations == []
    assert other.csp_violations == []
