"""Regenerate the admin screenshots of docs/admin.md (PNG files in docs/images/).

    uv run python docs/screenshots.py [--out docs/images] [--all]

Starts a private redis-server and a Django test server (tests.settings, a temporary SQLite
database), fills Redis with sample tasks, past runs of sample schedules and a pool
heartbeat, then drives the headless Debian chromium (/usr/bin/chromium) with Playwright.
`--all` also writes the list, dark-mode and phone-width pages (to check the looks; the docs
do not use them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402

#: The sample schedules (tests.settings reads the alias's OPTIONS as JSON from the env).
SCHEDULES = {
    "nightly-report": {
        "task": "tests.tasks.echo",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "kwargs": {"value": "full"},
        "queue_name": "low",
    },
    "sync-crm": {"task": "tests.tasks.noop", "every": 300, "queue_name": "low"},
    "cleanup": {"task": "tests.tasks.cleanup_gone", "cron": "@hourly"},
}


def populate(backend) -> str:
    """Sample tasks in every state; returns the id of a failed task."""
    from django.utils import timezone

    from tests import tasks
    from tests.admin_helpers import fail_next, lease_next, retry_next, succeed_next

    backend.enqueue_many(tasks.add, [((i, i), {}) for i in range(5)])
    for _ in range(5):
        succeed_next(backend, value=42)
    tasks.fail.enqueue("card declined for order 1234")
    failed = fail_next(backend, message="card declined for order 1234")
    tasks.fail.using(priority=5).enqueue("timeout talking to smtp.example.com")
    fail_next(backend, message="timeout talking to smtp.example.com")
    for _ in range(2):  # waiting for a retry (a Backoff of 5 attempts)
        tasks.flaky.enqueue()
        retry_next(backend, retry_after=300, queues=["default"])
    backend.enqueue_many(tasks.add, [((i, 1), {"note": "<b>bold</b>"}) for i in range(120)])
    tasks.urgent.enqueue(7)
    later = timezone.now() + timedelta(hours=2)
    backend.enqueue_many(tasks.noop.using(run_after=later), [((), {}) for _ in range(3)])
    lease_next(backend, "w1", ["high"])
    backend.maintain(["default", "high", "low"], sample=True)  # a pool's queue-depth sample
    return failed.task_id


def populate_schedules(backend) -> None:
    """Past runs of the sample schedules: finished, failed, skipped while paused, run now."""
    from datetime import UTC, datetime

    from tests.admin_helpers import fail_next, succeed_next

    entries = {e.name: e for e in backend.schedule_entries()[0]}
    now = datetime.now(UTC)
    nightly = entries["nightly-report"]
    slots = nightly.due_between(now - timedelta(days=3), now, 3)
    for n, slot in enumerate(slots):
        backend.fire_schedule(nightly, slot, "catch-up" if n == 0 else "slot")
        if n == 1:
            fail_next(backend, message="report server timed out", queues=["low"])
        else:
            succeed_next(backend, value="sent", queues=["low"])
    sync = entries["sync-crm"]
    slots = sync.due_between(now - timedelta(minutes=20), now, 4)
    for slot in slots[:-1]:
        backend.fire_schedule(sync, slot)
        succeed_next(backend, queues=["low"])
    backend.pause_schedule("sync-crm", True)
    backend.fire_schedule(sync, slots[-1])  # skipped: paused
    backend.fire_schedule(sync, now, "now")  # run now, waiting for a worker


def populate_job(backend) -> str:
    """A finished bulk job: "requeue all failed where error is ValueError"; returns its id."""
    from threadmill.backends.records import TaskState
    from threadmill.backends.search_records import TaskFilter

    job = backend.create_job(
        "requeue", "default", TaskState.FAILED, TaskFilter(error="ValueError"), who="admin:admin"
    )
    while not backend.get_job(job.id).status.finished:
        backend.run_job_chunk(job.id)  # what a pool's broker does, one chunk a call
    return job.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--all", action="store_true", help="also lists, workers, dark, phone")
    options = parser.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)

    with RedisServer() as server, tempfile.TemporaryDirectory() as tmp:
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        os.environ["THREADMILL_TEST_REDIS_URL"] = server.url
        os.environ["THREADMILL_TEST_DB"] = str(Path(tmp) / "db.sqlite3")
        os.environ["THREADMILL_TEST_OPTIONS"] = json.dumps({"schedules": SCHEDULES})
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.management import call_command
        from django.tasks import task_backends
        from django.test.testcases import LiveServerThread
        from playwright.sync_api import sync_playwright

        from tests.admin_helpers import CHROMIUM, CHROMIUM_ARGS  # needs Django set up

        call_command("migrate", verbosity=0)
        User.objects.create_superuser("admin", "admin@example.com", "admin")
        failed_id = populate(task_backends["default"])
        populate_schedules(task_backends["default"])

        thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        thread.daemon = True
        thread.start()
        thread.is_ready.wait()
        if thread.error:
            raise thread.error
        base = f"http://127.0.0.1:{thread.port}/admin"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                page.goto(f"{base}/login/?next=/admin/")
                page.fill("#id_username", "admin")
                page.fill("#id_password", "admin")
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/")

                def shot(path: str, name: str, **kwargs) -> None:
                    page.goto(f"{base}{path}{'&' if '?' in path else '?'}refresh=0")
                    page.screenshot(path=str(out / name), full_page=True, **kwargs)
                    print(out / name)

                shot("/threadmill/task/", "admin-overview.png")
                shot(f"/threadmill/task/default/tasks/{failed_id}/", "admin-failed-task.png")
                shot("/threadmill/task/default/schedules/", "admin-schedules.png")
                shot("/threadmill/task/default/metrics/", "admin-metrics.png")
                shot(
                    "/threadmill/task/default/metrics/tests.tasks.fail/?queue=default",
                    "admin-task-metrics.png",
                )
                shot(
                    "/threadmill/task/default/queues/default/failed/?error=ValueError&args=card",
                    "admin-search.png",
                )
                from tests.admin_helpers import fake_heartbeat

                fake_heartbeat(task_backends["default"])
                shot("/threadmill/task/default/workers/", "admin-workers.png")
                job_id = populate_job(task_backends["default"])
                shot(f"/threadmill/task/default/jobs/{job_id}/", "admin-job.png")
                if options.all:
                    shot("/threadmill/task/default/queues/default/ready/", "admin-ready.png")
                    shot("/threadmill/task/default/queues/default/failed/", "admin-failed.png")
                    shot("/threadmill/task/default/queues/default/retrying/", "admin-retrying.png")
                    page.emulate_media(color_scheme="dark")
                    shot("/threadmill/task/", "admin-overview-dark.png")
                    shot(f"/threadmill/task/default/tasks/{failed_id}/", "admin-failed-dark.png")
                    page.emulate_media(color_scheme="light")
                    page.set_viewport_size({"width": 390, "height": 800})
                    shot("/threadmill/task/", "admin-overview-phone.png")
                    shot("/threadmill/task/default/queues/default/ready/", "admin-ready-phone.png")
                browser.close()
        finally:
            thread.terminate()


if __name__ == "__main__":
    main()
