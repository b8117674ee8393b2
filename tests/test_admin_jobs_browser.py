"""A bulk job started in a real browser (Playwright, Debian's chromium) outlives its tab and
a pool killed mid-job: "requeue all matching" is clicked, the tab is closed, real pools carry
the job out (one is SIGKILLed half-way and another takes over), and a new tab shows it done;
the ledger of the requeued tasks shows each ran exactly once."""

from __future__ import annotations

import os
import signal

from playwright.sync_api import expect

from tests.browser_helpers import browser as browser  # the browser fixture
from tests.browser_helpers import logged_in
from tests.pool_helpers import wait_until
from tests.test_bulk_jobs_pool import MATCHING, OPTIONS, OTHERS, examined, failed_tasks
from threadmill.backends.job_records import JobStatus


def test_a_job_started_from_a_closed_tab_survives_a_killed_pool(
    live_server, transactional_db, admin_user, make_backend, redis_server, pool, tmp_path, browser
):
    backend = make_backend(redis_server.url, OPTIONS)
    ledger = tmp_path / "ledger"
    failed_tasks(backend, ledger)
    base = live_server.url + "/admin"
    page = logged_in(browser, base, "admin", "password")
    page.goto(f"{base}/threadmill/task/default/queues/low/failed/?error=Cancelled&args=keep")
    page.click("text=Requeue all matching…")
    page.click("input[type=submit][value^='Yes, requeue']")
    page.wait_for_url("**/jobs/*/")
    job_url = page.url
    [job] = backend.jobs()
    assert job.total == MATCHING + OTHERS
    assert job.status == JobStatus.WAITING  # no pool runs yet
    page.context.close()  # the tab (and its session's window) is gone: the job lives in Redis

    runner = pool("--queues", "low", "--processes", "1", "--threads", "4", options=OPTIONS)
    killed = pool("--queues", "default", "--processes", "1", "--threads", "1", options=OPTIONS)
    wait_until(lambda: examined(backend, job.id) >= 600, timeout=30, message="job started")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert backend.get_job(job.id).status == JobStatus.RUNNING, "the job ended before the kill"
    pool("--queues", "default", "--processes", "1", "--threads", "1", options=OPTIONS)
    wait_until(
        lambda: backend.get_job(job.id).status == JobStatus.DONE, timeout=60, message="job done"
    )

    again = logged_in(browser, base, "admin", "password")  # a new tab, later
    again.goto(job_url + "?refresh=0")
    expect(again.locator(".tm-job-status strong")).to_have_text("done")
    expect(again.locator(".tm-acted")).to_have_text(f"{MATCHING:,}")
    done = backend.get_job(job.id)
    assert (done.examined, done.acted, done.refused) == (MATCHING + OTHERS, MATCHING, 0)

    # The ledger: every requeued task ran once more (and failed again), none twice.
    def ledger_lines() -> list[str]:
        return ledger.read_text().splitlines() if ledger.exists() else []

    wait_until(lambda: len(ledger_lines()) >= MATCHING, timeout=60, message="tasks ran")
    wait_until(lambda: backend.queue_stats(["low"])[0].failed == MATCHING + OTHERS, timeout=30)
    ids = [line.split()[0] for line in ledger_lines()]
    assert len(ids) == len(set(ids)) == MATCHING
    assert "Traceback" not in runner.log()
    assert again.csp_violations == []
