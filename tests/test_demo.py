"""The README's first command: `manage.py demo` runs Redis, the admin and a pool processing
sample tasks. Run for real (child processes, a real HTTP server), for a few seconds: on a
Redis that goes away and comes back, and on a private server it starts itself (redis-server
from PATH, or the bundled Valkey on a machine with only uv)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.pool_helpers import wait_until
from tests.redis_server import free_port
from tests.server_binary import path_without_redis, require_bundled_valkey

MANAGE = Path(__file__).resolve().parent.parent / "example_project" / "manage.py"


class Demo:
    """`manage.py demo` in its own session, its output (and its children's) in a file: a
    pipe nobody reads would fill up and block it."""

    def __init__(self, tmp_path: Path, redis_url: str, seconds: float, *args, path=None):
        self.port = free_port()
        self.log = tmp_path / "demo.log"
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DEMO_DB": str(tmp_path / "demo.sqlite3"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # the example project's own settings
        if path is not None:
            env["PATH"] = path
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(MANAGE), "demo", "--seconds", str(seconds)]
                + ["--port", str(self.port), "--processes", "1", "--threads", "2"]
                + ["--rate", "20", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def admin_login_page(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/admin/login/"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200 and b'name="password"' in r.read()
        except OSError:
            return False

    def interrupt(self) -> None:
        """Ctrl-C in its terminal: SIGINT to the demo and every child in its group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def finish(self, timeout: float = 90) -> str:
        """Wait for it to stop by itself (--seconds); its output."""
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(errors="replace")


def successful(client: redis.Redis) -> int:
    counts = client.hgetall("threadmill-demo:{default}:stats")
    return sum(int(v) for k, v in counts.items() if k.endswith(":successful"))


def test_the_demo_processes_tasks_serves_the_admin_and_rides_out_a_redis_outage(
    tmp_path, disposable_redis
):
    server = disposable_redis()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    demo = Demo(tmp_path, server.url, 22)
    try:
        wait_until(demo.admin_login_page, 30, message="the admin answering")
        wait_until(lambda: successful(client) >= 5, 30, message="the pool running sample tasks")
        server.stop()  # clean shutdown: the AOF keeps what was written
        time.sleep(2)  # the producer (20 tasks/s) meets the outage
        server.start()  # same port, same data
        before = successful(client)
        wait_until(lambda: successful(client) >= before + 5, 30, message="tasks after it")
    finally:
        output = demo.finish()
    assert demo.process.returncode == 0, output
    assert f"http://127.0.0.1:{demo.port}/admin/" in output
    assert "threadmill_top" in output  # says how to open the dashboard
    assert "Started a private" not in output  # REDIS_URL answered: used as it is
    assert "Retrying every second" in output, output  # the producer met the outage...
    assert "Redis answers again: enqueueing." in output  # ...and went on
    assert "Traceback" not in output, output
    assert list(client.scan_iter("threadmill-demo:{default}:leases:*")) == []  # clean stop


def private_url(output: str) -> str | None:
    for line in output.splitlines():
        if line.startswith("Started a private ") and " for the demo: " in line:
            return line.rsplit(" ", 1)[1]
    return None


@pytest.mark.parametrize("machine", ["redis-server on PATH", "only uv"])
def test_the_demo_starts_a_private_server_when_none_answers(tmp_path, machine):
    if machine == "only uv":
        require_bundled_valkey()
        path, expected = path_without_redis(), "valkey-server (Valkey server v=8."
    else:
        if not shutil.which("redis-server"):
            pytest.skip("no redis-server on PATH")
        path, expected = None, "redis-server (Redis server v="
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    demo = Demo(tmp_path, nowhere, 60, path=path)
    try:
        wait_until(demo.admin_login_page, 40, message="the admin answering")
        url = wait_until(lambda: private_url(demo.log.read_text()), 10)
        client = redis.Redis.from_url(url, decode_responses=True)
        wait_until(lambda: successful(client) >= 1, 30, message="the pool running tasks")
        demo.interrupt()
    finally:
        output = demo.finish()
    assert demo.process.returncode == 0, output
    assert f"Started a private {expected}" in output, output
    assert "Traceback" not in output, output
    # Ctrl-C reaches the demo alone, which stops the pool (gracefully: one signal), the
    # web server, then the server it started.
    assert "Stopping..." in output
    assert "stopping gracefully" in output, output
    assert "second stop signal" not in output, output
    assert " stopped" in output.split("Stopping...")[1], output
    with pytest.raises(redis.ConnectionError):
        client.ping()


def test_the_demo_says_what_is_missing_when_it_cannot_start_a_server(tmp_path):
    demo = Demo(tmp_path, f"redis://127.0.0.1:{free_port()}/0", 4, "--server", "/nowhere/x")
    output = demo.finish(60)
    assert demo.process.returncode == 1, output
    assert "--server=/nowhere/x: not auto, redis or valkey, and no executable server" in output
