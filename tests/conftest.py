"""Shared fixtures: a real redis-server for the session, a clean database 0 per test,
disposable servers for fault tests, and the TASKS setting pointing at them.

Modules marked `both_topologies` run each test twice: against the standalone server and
against a real 3-master Redis Cluster (started once per session, on first use).
`redis_server` is then whichever of the two the test runs against.

The server binary is THREADMILL_TEST_SERVER's choice (tests/server_binary.py: redis-server
from PATH by default, else the bundled Valkey); the report header names it."""

from __future__ import annotations

import os

import pytest
from django.tasks import task_backends
from django.test.utils import override_settings

from tests.cluster_server import RedisClusterServer
from tests.redis_server import RedisServer
from tests.server_binary import ENV, NoServerBinary, chosen_server
from threadmill.backends import connection


def pytest_report_header(config) -> str:
    choice = os.environ.get(ENV) or "auto"
    try:
        return f"server ({ENV}={choice}): {chosen_server().describe()}"
    except NoServerBinary as exc:
        return f"server: {exc}"


def pytest_collection_finish(session) -> None:
    """Every test runs against a server (the autouse fixture below): without one, say why
    once instead of erroring every test."""
    if session.items and not session.config.option.collectonly:
        try:
            chosen_server()
        except NoServerBinary as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)


def tasks_setting(
    url: str, options: dict | None = None, aliases: tuple[str, ...] = (), **extra
) -> dict:
    """TASKS with a "default" alias on url, and the same settings under each of aliases."""
    return {
        alias: {
            "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
            "REDIS_URL": url,
            "QUEUES": ["default", "high", "low"],
            "OPTIONS": options or {},
            **extra,
        }
        for alias in ("default", *aliases)
    }


def pytest_generate_tests(metafunc):
    """Tests of modules marked both_topologies run on one server and on a cluster (not
    those that build their own disposable servers)."""
    if metafunc.definition.get_closest_marker("both_topologies") and (
        "disposable_redis" not in metafunc.fixturenames
    ):
        metafunc.parametrize("topology", ["standalone", "cluster"], indirect=True)


@pytest.fixture
def topology(request) -> str:
    return getattr(request, "param", "standalone")


@pytest.fixture(scope="session")
def standalone_server():
    """The session's redis-server (AOF on); tests flush it, never the shared 6379."""
    server = RedisServer()
    os.environ["THREADMILL_TEST_REDIS_URL"] = server.url
    yield server
    connection.close_all()
    server.close()


@pytest.fixture(scope="session")
def redis_cluster():
    """The session's Redis Cluster: 3 masters, one replica each (started on first use)."""
    cluster = RedisClusterServer(masters=3, replicas=1)
    yield cluster
    connection.close_all()
    cluster.close()


@pytest.fixture
def redis_server(request, topology, standalone_server):
    """The Redis this test runs against: the standalone server, or the session cluster."""
    if topology == "cluster":
        return request.getfixturevalue("redis_cluster")
    return standalone_server


@pytest.fixture(autouse=True)
def _tasks_on_session_redis(request, redis_server):
    """Point TASKS at the session server and start every test from an empty Redis."""
    with redis_server.client() as c:
        c.flushall()
    with override_settings(TASKS=tasks_setting(redis_server.url)):
        yield
    connection.close_all()


@pytest.fixture
def backend():
    return task_backends["default"]


@pytest.fixture
def make_backend():
    """Build a backend with other options / URL (settings overridden for the test)."""
    overrides = []

    def make(url: str, options: dict | None = None, **extra):
        ov = override_settings(TASKS=tasks_setting(url, options, **extra))
        ov.enable()
        overrides.append(ov)
        return task_backends["default"]

    yield make
    for ov in reversed(overrides):
        ov.disable()
    connection.close_all()


@pytest.fixture
def disposable_redis():
    """Factory of private redis-servers that a test may kill, restart or pause."""
    servers: list[RedisServer] = []

    def make(**kwargs) -> RedisServer:
        server = RedisServer(**kwargs)
        servers.append(server)
        return server

    yield make
    connection.close_all()
    for server in servers:
        server.close()


@pytest.fixture
def pool(redis_server, tmp_path):
    """Start `manage.py threadmill` processes (own session); all are killed at teardown."""
    from tests.pool_helpers import Pool

    started: list[Pool] = []

    def start(*args, options=None, env=None, url=None, prefix=None):
        p = Pool(
            url or redis_server.url,
            *args,
            options=options,
            env=env,
            log_dir=tmp_path,
            prefix=prefix,
        )
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


@pytest.fixture
def rclient(redis_server):
    with redis_server.client() as c:
        yield c
