"""Driver for django-tasks-db: the `django.tasks` reference database backend, on SQLite.

Configured as its README says; the worker is `manage.py db_worker` with its defaults
(1 s poll interval when the queue is empty) and `-v 0` (no per-task log lines). db_worker is
one process with one thread: N processes are N db_worker commands, started by a small
supervisor process (this driver); 1x1 is a single db_worker, exec'd directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from common import PEERS_DIR, Driver, is_stamped

os.environ["BENCH_SYSTEM"] = "django-tasks-db"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_django_settings")

PROCESSES = {"1x1": 1, "2x1": 2, "2x4": 8}


class DjangoTasksDbDriver(Driver):
    name = "django-tasks-db"
    packages = ("django-tasks-db", "django")
    drain_settings = {"1x1": "1 db_worker", "2x1": "2 db_worker processes"}
    idle_setting = ("2x4", "8 db_worker processes (8 task slots)")
    uses_redis = False
    # db_worker polls every second and polls again right after a task: with gaps shorter than
    # the interval every sample would meet the same point of the poll cycle.
    latency_gap = (0.02, 1.02)
    slow_poller = True

    def __init__(self) -> None:
        import django

        django.setup()
        import peer_django_tasks
        from django.conf import settings
        from django_tasks_db.models import DBTaskResult

        self.tasks = peer_django_tasks
        self.model = DBTaskResult
        self.db_path = Path(settings.DATABASES["default"]["NAME"])

    def setup(self) -> None:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)

    def reset(self) -> None:
        self.model.objects.all().delete()

    def snapshot(self) -> None:
        from django.db import connection

        connection.close()
        shutil.copyfile(self.db_path, self.db_path.with_suffix(".snapshot"))

    def restore(self) -> None:
        from django.db import connection

        connection.close()
        # A worker killed inside a transaction leaves a hot journal: it must not be replayed
        # onto the restored file.
        for suffix in ("-journal", "-wal", "-shm"):
            Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(self.db_path.with_suffix(".snapshot"), self.db_path)

    def enqueue_noop(self) -> None:
        self.tasks.noop.enqueue()

    def enqueue_stamp(self, i: int) -> None:
        self.tasks.stamp.enqueue(i)

    def fill(self, n: int) -> None:
        from django.db import transaction

        # One transaction instead of 10,000 commits: the set-up is not what is measured.
        with transaction.atomic():
            for i in range(n):
                if is_stamped(i, n):
                    self.enqueue_stamp(i)
                else:
                    self.enqueue_noop()

    def pending(self) -> int:
        return self.model.objects.ready().count()

    def worker_command(self, setting: str, index: int = 0) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, str(PEERS_DIR / "peer_manage.py"), "db_worker", "-v", "0"]
        return argv, {}

    def instances(self, setting: str) -> int:
        return PROCESSES[setting]


if __name__ == "__main__":
    DjangoTasksDbDriver.run()
