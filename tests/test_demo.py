"""The README's first command: `manage.py demo` runs Redis, the admin and a pool processing
sample tasks. Run for real (child processes, a real HTTP server), for a few seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import redis

from tests.pool_helpers import wait_until
from tests.redis_server import free_port

MANAGE = Path(__file__).resolve().parent.parent / "example_project" / "manage.py"


def start_demo(tmp_path: Path, redis_url: str, seconds: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DEMO_DB": str(tmp_path / "demo.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the example project's own settings
    demo = subprocess.Popen(
        [sys.executable, str(MANAGE), "demo", "--seconds", str(seconds), "--port", str(port)]
        + ["--processes", "1", "--threads", "2", "--rate", "20"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return demo, port


def admin_login_page(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as r:
            return r.status == 200 and b'name="password"' in r.read()
    except OSError:
        return False


def test_the_demo_processes_tasks_and_serves_the_admin(tmp_path, disposable_redis):
    server = disposable_redis()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    demo, port = start_demo(tmp_path, server.url, seconds=12)
    try:
        wait_until(lambda: admin_login_page(port), 30, message="the admin answering")

        def successful() -> int:
            counts = client.hgetall("threadmill-demo:{default}:stats")
            return sum(int(v) for k, v in counts.items() if k.endswith(":successful"))

        wait_until(lambda: successful() >= 5, 30, message="the pool running sample tasks")
        output, _ = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{port}/admin/" in output
    assert "threadmill_top" in output  # says how to open the dashboard
    assert list(client.scan_iter("threadmill-demo:{default}:leases:*")) == []  # clean stop


def test_the_demo_starts_a_private_redis_when_none_answers(tmp_path):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    demo, port = start_demo(tmp_path, nowhere, seconds=4)
    try:
        wait_until(lambda: admin_login_page(port), 30, message="the admin answering")
        output, _ = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, output
    assert "Started a private redis-server for the demo: redis://127.0.0.1:" in output
