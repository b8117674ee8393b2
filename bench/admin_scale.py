"""How fast the admin pages render with a million tasks in one queue.

    uv run python bench/admin_scale.py [--tasks 1000000] [--runs 5]

Starts a private redis-server (persistence off), enqueues the tasks with
`backend.enqueue_many` in chunks, then renders the overview, a list page (first page and a
deep offset), a failed list and a task's detail page through Django's test client, and
prints the median and max render time of each. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402

CHUNK = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()

    with RedisServer(appendonly=False) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        os.environ["THREADMILL_TEST_REDIS_URL"] = server.url
        os.environ["THREADMILL_TEST_DB"] = str(Path(tmp) / "db.sqlite3")
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.tasks import task_backends
        from django.test import Client

        from tests import tasks
        from tests.admin_helpers import fail_next

        call_command("migrate", verbosity=0)
        client = Client()
        client.force_login(User.objects.create_superuser("admin", "a@example.com", "admin"))
        backend = task_backends["default"]

        started = time.perf_counter()
        first_id = None
        for start in range(0, options.tasks, CHUNK):
            n = min(CHUNK, options.tasks - start)
            results = backend.enqueue_many(tasks.add, [((start + i, i), {}) for i in range(n)])
            first_id = first_id or results[0].id
        took = time.perf_counter() - started
        print(f"enqueued {options.tasks:,} tasks in {took:.1f} s ({options.tasks / took:,.0f}/s)")
        for _ in range(100):  # a few failed tasks too (they are leased from the front)
            fail_next(backend, queues=["default"])
        info = backend.server_info()
        print(f"redis {info.version}, used memory {info.used_memory / 2**20:,.0f} MiB")

        deep = max(0, options.tasks - 1000)
        pages = {
            "overview": "/admin/threadmill/task/",
            "ready list, first page": "/admin/threadmill/task/default/queues/default/ready/",
            f"ready list, offset {deep:,}": (
                f"/admin/threadmill/task/default/queues/default/ready/?offset={deep}"
            ),
            "ready list, by name (matches)": (
                "/admin/threadmill/task/default/queues/default/ready/?name=tasks.add"
            ),
            # The worst case: nothing matches, so the page looks at its 10,000 positions.
            "ready list, by name (no match)": (
                "/admin/threadmill/task/default/queues/default/ready/?name=nomatch"
            ),
            "failed list": "/admin/threadmill/task/default/queues/default/failed/",
            "task detail": f"/admin/threadmill/task/default/tasks/{first_id}/",
            "live refresh (htmx fragment)": "/admin/threadmill/task/default/queues/default/ready/",
        }
        print(f"render times over {options.runs} runs (median / max):")
        for label, path in pages.items():
            headers = {"HX-Request": "true", "HX-Target": "tm-live"} if "htmx" in label else {}
            times = []
            for _ in range(options.runs):
                t0 = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append(time.perf_counter() - t0)
                assert response.status_code in (200, 404), (path, response.status_code)
            median, worst = statistics.median(times) * 1000, max(times) * 1000
            print(f"  {label:<32} {median:7.1f} ms / {worst:7.1f} ms")


if __name__ == "__main__":
    main()
