"""`manage.py demo`: Redis, the admin, a worker pool and a stream of sample tasks, at once.

Uses the Redis at REDIS_URL (default redis://localhost:6379/0); when none answers there it
starts a private redis-server from PATH (or says how to install one). Creates the SQLite
database and an `admin` / `admin` superuser, then runs `runserver` and `threadmill` as child
processes and enqueues sample tasks until Ctrl-C, which stops everything gracefully.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.tasks import task_backends
from django.test.utils import override_settings
from django.utils import timezone

MANAGE = Path(__file__).resolve().parents[3] / "manage.py"


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5) as c:
            return bool(c.ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command(BaseCommand):
    help = "Run the Threadmill demo: admin on http://127.0.0.1:8000/admin/, a pool, tasks."
    requires_system_checks: list[str] = []  # Redis may be started below

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="runserver port")
        parser.add_argument("--processes", type=int, default=2)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--rate", type=float, default=5.0, help="tasks enqueued per second")
        parser.add_argument("--seconds", type=float, default=0, help="stop after (0: never)")

    def handle(self, *args, **options):
        children: list[subprocess.Popen] = []
        url = settings.TASKS["default"]["REDIS_URL"]
        env = dict(os.environ)
        if not _answers(url):
            url = self._private_redis(children)
            env["REDIS_URL"] = url
        os.environ["REDIS_URL"] = url
        with override_settings(
            TASKS={**settings.TASKS, "default": {**settings.TASKS["default"], "REDIS_URL": url}}
        ):
            self._run(url, env, children, options)

    def _private_redis(self, children) -> str:
        binary = shutil.which("redis-server")
        if not binary:
            raise CommandError(
                "No Redis answers at REDIS_URL and redis-server is not installed. Install it "
                "(`apt-get install redis-server` or `brew install redis`) or set REDIS_URL."
            )
        port = _free_port()
        data = tempfile.mkdtemp(prefix="threadmill-demo-redis-")
        children.append(
            subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    data,
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        url = f"redis://127.0.0.1:{port}/0"
        for _ in range(100):
            if _answers(url):
                break
            time.sleep(0.05)
        self.stdout.write(f"Started a private redis-server for the demo: {url}")
        return url

    def _run(self, url, env, children, options):
        call_command("migrate", verbosity=0, interactive=False)
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        python = sys.executable
        children.append(
            subprocess.Popen(
                [python, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{options['port']}"],
                env=env,
            )
        )
        pool = subprocess.Popen(
            [
                python,
                str(MANAGE),
                "threadmill",
                "--processes",
                str(options["processes"]),
                "--threads",
                str(options["threads"]),
            ],
            env=env,
        )
        children.append(pool)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nThreadmill demo running on {url}\n"
                f"  admin:      http://127.0.0.1:{options['port']}/admin/  (admin / admin)\n"
                f"  dashboard:  REDIS_URL={url} uv run example_project/manage.py threadmill_top\n"
                "  Ctrl-C stops the producer, the pool (gracefully) and the server.\n"
            )
        )
        try:
            self._produce(options)
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("Stopping...")
            # Pool first (it acknowledges what it holds), then the server, then Redis.
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
                try:
                    child.wait(40)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _produce(self, options):
        from demo import tasks

        backend = task_backends["default"]
        started = time.monotonic()
        n = 0
        while not options["seconds"] or time.monotonic() - started < options["seconds"]:
            n += 1
            choice = random.random()
            if choice < 0.4:
                tasks.fast.enqueue(n)
            elif choice < 0.55:
                tasks.slow.enqueue(round(random.uniform(0.5, 4), 1))
            elif choice < 0.7:
                tasks.flaky.enqueue()
            elif choice < 0.8:
                tasks.send_email.enqueue(f"user{n}@example.com")
            elif choice < 0.9:
                tasks.urgent_report.enqueue(f"r{n}")
            else:
                when = timezone.now() + timedelta(seconds=random.randint(5, 30))
                tasks.reminder.using(run_after=when).enqueue(f"reminder {n}")
            if n % 500 == 0:
                backend.enqueue_many(tasks.fast, [((i,), {}) for i in range(200)])
            time.sleep(1 / options["rate"])
