"""A real browser (Playwright driving Debian's headless chromium) on the overview's runs
chart: it updates in place (htmx) after a real pool runs tasks, and a bar with failures
opens that minute's failed tasks; all under the test settings' strict
Content-Security-Policy."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import tasks
from tests.browser_helpers import browser as browser  # the fixtures
from tests.browser_helpers import log_in
from tests.browser_helpers import page as page


def test_overview_chart_updates_live_after_a_pool_runs_tasks(
    live_server, transactional_db, admin_user, backend, pool, page
):
    base = live_server.url + "/admin"
    log_in(page, base)

    page.goto(f"{base}/threadmill/task/?refresh=0.3")
    chart = page.locator("#chart-default")
    expect(chart).to_have_attribute("data-processed", "0")
    expect(page.locator("#chart-default a.tm-bar-link")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")

    for n in range(3):
        tasks.add.enqueue(n, n)
    tasks.fail.enqueue("charted")
    p = pool(
        "--processes", "1", "--threads", "1", "--exit-empty", options={"broker_interval": 0.05}
    )
    assert p.wait(60) == 0, p.tail()

    expect(chart).to_have_attribute("data-processed", "4")
    expect(chart).to_have_attribute("data-failed", "1")
    expect(chart.locator(".tm-chart-totals")).to_contain_text("4 processed, 1 failed")
    assert page.evaluate("window.__sameDocument") is True  # refreshed in place, no reload

    page.locator("#chart-default a.tm-bar-link").first.click()
    page.wait_for_url("**/queues/default/failed/?since=*")
    expect(page.locator(".tm-summary")).to_contain_text("1 task where")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator('#result_list code[title="tests.tasks.fail"]')).to_have_count(1)
    assert page.csp_violations == []
