"""A real browser (Playwright driving Debian's headless chromium) on the live admin:
log in, watch a count change through the htmx refresh while tasks are enqueued, keep a
checked box across refreshes, pause while the tab is hidden, requeue a failed task through
the confirmation page, cancel and terminate tasks from their pages, pause a schedule and run
it now, pause and resume a queue, run a deferred task now, all under a strict
Content-Security-Policy."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import tasks
from tests.admin_helpers import fail_next
from tests.browser_helpers import TIMEOUT_MS, log_in
from tests.browser_helpers import browser as browser  # the fixtures
from tests.browser_helpers import page as page
from threadmill.backends.records import TaskState


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("THREADMILL_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def refreshes(page) -> int:
    return page.evaluate("window.__tmRefreshes || 0")


def wait_for_refreshes(page, at_least: int) -> None:
    """Poll from Python: page.wait_for_function would need eval, which the CSP forbids."""
    for _ in range(TIMEOUT_MS // 50):
        if refreshes(page) >= at_least:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"fewer than {at_least} refreshes within {TIMEOUT_MS} ms")


def set_visibility(page, state: str) -> None:
    """What the browser does when the tab is hidden or shown again."""
    page.evaluate(
        "state => { Object.defineProperty(document, 'visibilityState', "
        "{value: state, configurable: true}); "
        "document.dispatchEvent(new Event('visibilitychange')); }",
        state,
    )


def count_refreshes(page) -> None:
    page.evaluate(
        "window.__tmRefreshes = 0;"
        "document.addEventListener('htmx:beforeRequest', () => window.__tmRefreshes++);"
    )


def test_live_admin_in_a_browser(
    live_server, transactional_db, admin_user, backend, artifacts, page
):
    # `page` comes last: Playwright's sync API runs an event loop in this thread, and
    # Django refuses database work (creating admin_user) while one runs.
    tasks.fail.enqueue("first")
    failed = fail_next(backend, message="first").task_id
    base = live_server.url + "/admin"

    log_in(page, base)
    page.click("a[href='/admin/threadmill/task/']")
    assert "/admin/threadmill/task/" in page.url

    # 1. A count changes in place while tasks are enqueued.
    page.goto(f"{base}/threadmill/task/?refresh=0.3")
    ready = page.locator("#alias-default tbody tr").first.locator("a[data-state=ready]")
    expect(ready).to_have_text("0")
    page.evaluate("window.__sameDocument = true")
    backend.enqueue_many(tasks.noop, [((), {}) for _ in range(3)])
    expect(ready).to_have_text("3")
    backend.enqueue_many(tasks.noop, [((), {}) for _ in range(4)])
    expect(ready).to_have_text("7")
    assert page.evaluate("window.__sameDocument") is True  # refreshed in place, no reload

    # 2. Refresh pauses while the tab is hidden and resumes at once when visible. Counted
    # from the moment it is hidden: counting first let a refresh due between the two calls
    # (a slow browser round trip) count as one while hidden.
    set_visibility(page, "hidden")
    count_refreshes(page)
    page.wait_for_timeout(1500)  # five intervals: none may fire
    assert refreshes(page) == 0
    set_visibility(page, "visible")
    wait_for_refreshes(page, 1)

    # 3. A checked box survives refreshes that change the list.
    page.goto(f"{base}/threadmill/task/default/queues/default/failed/?refresh=0.3")
    box = page.locator(f"input[name=ids][value='{failed}']")
    box.check()
    expect(page.locator(".tm-selected-count")).to_have_text("1 of 1 selected")
    tasks.fail.enqueue("second")
    while backend.queue_stats(["default"])[0].failed < 2:
        fail_next(backend, message="second")
    expect(page.locator("input[name=ids]")).to_have_count(2)  # the list refreshed
    count_refreshes(page)
    wait_for_refreshes(page, 2)
    expect(box).to_be_checked()
    expect(page.locator(".tm-selected-count")).to_have_text("1 of 2 selected")

    # 4. Requeue it through the confirmation page.
    page.click("text=Requeue selected…")
    expect(page.locator(".tm-announce")).to_contain_text("requeue 1 task")
    assert backend.get_task(failed).state == TaskState.FAILED
    page.click("input[type=submit][value='Yes, requeue 1 task']")
    expect(page.locator(".messagelist .success")).to_contain_text("Requeued 1 task")
    assert backend.get_task(failed).state == TaskState.READY
    page.screenshot(path=str(artifacts / "admin-after-requeue.png"), full_page=True)

    page.goto(f"{base}/threadmill/task/default/tasks/{failed}/")
    expect(page.locator(".tm-state")).to_have_text("READY")
    page.screenshot(path=str(artifacts / "admin-requeued-task.png"), full_page=True)
    assert (artifacts / "admin-after-requeue.png").stat().st_size > 0
    assert page.csp_violations == []


def test_cancel_and_terminate_from_the_task_detail_in_a_browser(
    live_server, transactional_db, admin_user, backend, artifacts, page
):
    running = tasks.flaky.enqueue().id
    ready = tasks.noop.enqueue().id
    lease = backend.acquire("w1", ["default"], "w1/1")
    assert lease.task_id == running  # first in, first out
    base = live_server.url + "/admin"
    log_in(page, base)

    # 1. A ready task: Cancel, confirm, FAILED with Cancelled.
    page.goto(f"{base}/threadmill/task/default/tasks/{ready}/?refresh=0")
    expect(page.locator(".tm-state")).to_have_text("READY")
    expect(page.locator("text=Terminate…")).to_have_count(0)
    page.click("text=Cancel…")
    expect(page.locator(".tm-announce")).to_contain_text("cancel 1 task")
    assert backend.get_task(ready).state == TaskState.READY
    page.click("input[type=submit][value='Yes, cancel 1 task']")
    expect(page.locator(".messagelist .success")).to_contain_text("Cancelled 1 task")
    expect(page.locator(".tm-state")).to_have_text("FAILED")
    expect(page.locator("dd.tm-cancel")).to_have_text("requested by admin:admin")
    expect(page.locator("text=Cancel…")).to_have_count(0)
    assert backend.get_task(ready).last_error.exception_name == "Cancelled"

    # 2. A running task (Backoff of 5 attempts): Terminate, confirm, a request to its worker.
    page.goto(f"{base}/threadmill/task/default/tasks/{running}/?refresh=0")
    expect(page.locator(".tm-state")).to_have_text("RUNNING")
    expect(page.locator("dd.tm-attempts")).to_have_text("1 of 5")
    page.click("text=Terminate…")
    expect(page.locator(".tm-announce")).to_contain_text("terminate 1 task")
    page.click("input[type=submit][value='Yes, terminate 1 task']")
    expect(page.locator(".messagelist .success")).to_contain_text("stop it now")
    expect(page.locator("dd.tm-cancel")).to_have_text("requested by admin:admin")
    [request] = backend.wait_for_control("w1", 1)
    assert (request.task_id, request.terminate, request.who) == (running, True, "admin:admin")
    page.screenshot(path=str(artifacts / "admin-terminated-task.png"), full_page=True)
    assert page.csp_violations == []


def test_pause_and_run_a_schedule_in_a_browser(
    live_server, transactional_db, admin_user, make_backend, redis_server, artifacts, page
):
    schedules = {
        "nightly": {"task": "tests.tasks.noop", "cron": "30 2 * * *", "timezone": "Asia/Tokyo"},
        "sync": {"task": "tests.tasks.noop", "every": 3600},
    }
    backend = make_backend(redis_server.url, {"schedules": schedules})
    base = live_server.url + "/admin"
    log_in(page, base)
    page.goto(f"{base}/threadmill/task/")
    page.click("text=Schedules of “default”")
    page.goto(page.url + "?refresh=0.3")
    sync = page.locator("section[data-schedule=sync]")
    expect(sync.locator("dd.tm-paused")).to_have_text("no")
    expect(sync.locator("table.tm-runs tbody")).to_contain_text("No run yet.")

    # 1. Pause: Redis says paused, the page says so and offers Resume.
    sync.locator("button", has_text="Pause").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Paused schedule “sync”")
    expect(sync.locator("dd.tm-paused")).to_contain_text("yes")
    expect(sync.locator("button", has_text="Resume")).to_be_visible()
    assert backend.schedule_states(["sync"])["sync"].paused

    # 2. Run now, while paused: the run appears in the last runs, linking to its task.
    sync.locator("button", has_text="Run now").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Enqueued a run")
    [run] = backend.schedule_states(["sync"])["sync"].runs
    row = sync.locator("table.tm-runs tbody tr").first
    expect(row.locator(".tm-how")).to_have_text("now")
    expect(row.locator(".tm-state")).to_have_text("READY")
    # 3. The live refresh shows the run finishing.
    lease = backend.acquire("w1", ["default"], "w1/1")
    assert lease.task_id == run.task_id
    backend.acknowledge(lease, "w1", succeeded=True, value_json="null")
    expect(row.locator(".tm-state")).to_have_text("SUCCESSFUL")
    page.screenshot(path=str(artifacts / "admin-schedules.png"), full_page=True)
    row.locator("a").click()
    expect(page.locator(".tm-state")).to_have_text("SUCCESSFUL")
    assert run.task_id in page.url
    assert page.csp_violations == []


def test_pause_resume_and_run_now_in_a_browser(
    live_server, transactional_db, admin_user, backend, artifacts, page
):
    later = tasks.noop.using(run_after=timezone.now() + timedelta(hours=1)).enqueue().id
    base = live_server.url + "/admin"
    log_in(page, base)

    # Pause from the overview: the badge appears (also after a live refresh), then resume.
    page.goto(f"{base}/threadmill/task/?refresh=0.3")
    page.click("button[aria-label='Pause queue default']")
    expect(page.locator(".messagelist .success")).to_contain_text("Paused queue “default”")
    row = page.locator("#alias-default tbody tr").first
    expect(row.locator(".tm-paused")).to_have_text("Paused")
    assert backend.paused_queues() == ["default"]
    count_refreshes(page)
    wait_for_refreshes(page, 2)
    expect(row.locator(".tm-paused")).to_have_text("Paused")
    page.click("button[aria-label='Resume queue default']")
    expect(page.locator(".messagelist .success")).to_contain_text("Resumed queue “default”")
    expect(row.locator(".tm-paused")).to_have_count(0)
    assert backend.paused_queues() == []

    # Run a deferred task now from its page, through the confirmation page.
    page.goto(f"{base}/threadmill/task/default/tasks/{later}/")
    page.click("text=Run now…")
    expect(page.locator(".tm-announce")).to_contain_text("run 1 deferred task now")
    page.click("input[type=submit][value='Yes, run 1 task now']")
    expect(page.locator(".messagelist .success")).to_contain_text("Moved 1 task to READY now")
    expect(page.locator(".tm-state")).to_have_text("READY")
    page.screenshot(path=str(artifacts / "admin-after-run-now.png"), full_page=True)
    assert page.csp_violations == []
