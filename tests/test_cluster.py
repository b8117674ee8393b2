"""Redis Cluster: REDIS_URL forms, aliases spread over masters, one pool per alias, the
inspection API per alias, replica acknowledgement. Against a real 3-master cluster (one
replica each) that the session starts; the backend API and state tests also run on it
(modules marked `both_topologies`)."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.tasks import TaskResultStatus, task_backends
from django.test import override_settings

from tests import tasks
from tests.conftest import tasks_setting
from tests.pool_helpers import wait_until
from tests.reports import pool_report
from threadmill.backends.records import TaskState
from threadmill.backends.redis import RedisTaskBackend
from threadmill.backends.topology import CLUSTER, SENTINEL, STANDALONE, mask_url, parse_url
from threadmill.exceptions import BackendUnavailable, ReplicationTimeout

SUCCESSFUL = TaskResultStatus.SUCCESSFUL
#: Aliases whose hash tags fall in the three slot ranges `redis-cli --cluster create`
#: gives three masters: {b} slot 3300, {default} 5718, {a} 15495.
ALIASES = ("default", "a", "b")


# ---- REDIS_URL ---------------------------------------------------------------------------


def test_cluster_and_sentinel_urls_are_parsed():
    cluster = parse_url("redis+cluster://:s3cret@h1:7001,h2:7002,[::1]:7003/")
    assert cluster.kind == CLUSTER
    assert cluster.nodes == (("h1", 7001), ("h2", 7002), ("::1", 7003))
    assert (cluster.username, cluster.password, cluster.tls) == (None, "s3cret", False)
    assert parse_url("rediss+cluster://u:p@h1/0").nodes == (("h1", 6379),)
    assert parse_url("rediss+cluster://u:p@h1/0").tls
    sentinel = parse_url("redis+sentinel://s1:26379,s2/mymaster/2")
    assert (sentinel.kind, sentinel.service, sentinel.db) == (SENTINEL, "mymaster", 2)
    assert sentinel.nodes == (("s1", 26379), ("s2", 26379))
    assert parse_url("redis://localhost:6379/0").kind == STANDALONE
    assert parse_url("unix:///tmp/redis.sock").kind == STANDALONE
    assert mask_url("redis+cluster://u:s3cret@h1:1,h2:2/") == "redis+cluster://u:***@h1:1,h2:2/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost", "must start with redis://"),
        ("redis+cluster://h1:7001/1", "only database 0"),
        ("redis+cluster://h1:7001,,h2:7002/", "host:port"),
        ("redis+cluster://h1:port/", "host:port"),
        ("redis+cluster://h1:7001/?ssl_cert_reqs=none", "no \\?options"),
        ("redis+sentinel://s1:26379", "names the monitored service"),
        ("redis+sentinel://s1:26379/mymaster/x", "database must be a number"),
        ("redis+cluster://:s3cret@h1:99999/", "out of range"),
    ],
)
def test_malformed_urls_are_refused_naming_the_alias(url, message):
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        RedisTaskBackend("shop", {"REDIS_URL": url})
    assert "TASKS['shop']['REDIS_URL']" in str(caught.value)
    assert "s3cret" not in str(caught.value)


# ---- aliases on a cluster ----------------------------------------------------------------


@pytest.fixture
def aliases(redis_cluster):
    """TASKS with the aliases default, a and b on the session cluster."""
    redis_cluster.flushall()
    with override_settings(TASKS=tasks_setting(redis_cluster.url, aliases=ALIASES[1:])):
        yield {alias: task_backends[alias] for alias in ALIASES}


@pytest.mark.cluster
def test_aliases_hash_to_different_masters(redis_cluster, aliases):
    with redis_cluster.live_nodes()[0].client() as c:
        slots = {
            a: c.execute_command("CLUSTER", "KEYSLOT", b.keys.base) for a, b in aliases.items()
        }
        shards = c.execute_command("CLUSTER", "SHARDS")
    owners = {}
    for shard in shards:  # redis-py parses each shard into {"slots": [...], "nodes": [...]}
        ranges = list(zip(shard["slots"][::2], shard["slots"][1::2], strict=True))
        [master] = [n for n in shard["nodes"] if n["role"] == "master"]
        for alias, slot in slots.items():
            if any(int(lo) <= slot <= int(hi) for lo, hi in ranges):
                owners[alias] = f"{master['ip']}:{master['port']}"
    assert slots == {"default": 5718, "a": 15495, "b": 3300}
    assert len(set(owners.values())) == 3, owners  # three aliases, three masters
    for alias, backend in aliases.items():
        info = backend.server_info()
        assert (info.topology, info.node, info.connected_replicas) == ("cluster", owners[alias], 1)
        assert info.reachable
        assert not info.warnings


@pytest.mark.cluster
def test_every_key_of_an_alias_lives_on_its_master(redis_cluster, aliases):
    for alias, backend in aliases.items():
        backend.enqueue_many(tasks.add, [((i, i), {}) for i in range(5)])
        tasks.noop.using(backend=alias, queue_name="high").enqueue()
        run = backend.acquire("w1", ["default"], "t1")
        backend.acknowledge(run, "w1", succeeded=True, value_json="0")
    for backend in aliases.values():
        owner = int(backend.server_info().node.rsplit(":", 1)[1])
        with redis_cluster.node(owner).client() as c:
            keys = list(c.scan_iter(count=1000))
        assert sum(1 for k in keys if ":task:" in k) == 6
        assert all(k.startswith(backend.keys.base) for k in keys)  # and no other alias's


@pytest.mark.cluster
def test_the_inspection_api_answers_for_every_alias(aliases):
    """What the admin pages and the dashboard do: iterate over TASKS, ask each alias."""
    ids = {}
    for n, (alias, backend) in enumerate(aliases.items()):
        ids[alias] = [r.id for r in backend.enqueue_many(tasks.echo, [((alias,), {})] * (n + 1))]
        backend.heartbeat(
            f"pool-{alias}", [f"w-{alias}"], pool_report({"host": alias, "queues": ["default"]})
        )
    for n, (alias, backend) in enumerate(aliases.items()):
        [stats] = backend.queue_stats(["default"])
        assert (stats.ready, stats.enqueued_total) == (n + 1, n + 1)
        page = backend.list_tasks("default", TaskState.READY, 0, 10)
        assert sorted(r.id for r in page.items) == sorted(ids[alias])
        assert backend.get_task(ids[alias][0]).args == [alias]
        assert [p.pool_id for p in backend.pools()] == [f"pool-{alias}"]
        assert backend.queue_names() == ["default", "high", "low"]
        assert backend.check() == []
    moved, left = aliases["a"].purge_batch("default", TaskState.READY)
    assert (moved, left) == (2, 0)
    assert aliases["b"].queue_stats(["default"])[0].ready == 3  # other aliases untouched


@pytest.mark.cluster
def test_two_aliases_are_drained_by_one_pool_each_at_the_same_time(redis_cluster, aliases, pool):
    calls = [((i, 1), {}) for i in range(150)]
    ids = {alias: [r.id for r in aliases[alias].enqueue_many(tasks.add, calls)] for alias in "ab"}
    env = {"THREADMILL_TEST_ALIASES": '["a", "b"]'}
    options = {"replica_acks": 1}  # every lease and acknowledgement waits for the replica
    args = ("--processes", "1", "--threads", "2", "--exit-empty")
    pools = {
        alias: pool("--backend", alias, *args, url=redis_cluster.url, env=env, options=options)
        for alias in ("a", "b")
    }
    for alias, p in pools.items():
        assert p.wait(90) == 0, p.tail()
        for task_id in ids[alias]:
            result = aliases[alias].get_result(task_id)
            assert result.status == SUCCESSFUL
            assert f".{p.pid}." in result.worker_ids[0]  # run by that alias's own pool
    for alias in ("a", "b"):
        assert aliases[alias].queue_stats(["default"])[0].successful_total == 150


# ---- replica acknowledgement on the cluster ---------------------------------------------


@pytest.mark.cluster
def test_replica_acks_wait_on_the_slot_master_and_time_out_clearly(redis_cluster, make_backend):
    backend = make_backend(redis_cluster.url, {"replica_acks": 1, "replica_ack_timeout": 0.3})
    master = redis_cluster.node(int(backend.server_info().node.rsplit(":", 1)[1]))
    with master.client() as c:
        waits = int(c.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
        replica_port = int(c.info("replication")["slave0"]["port"])
    result = tasks.add.enqueue(1, 2)
    lease = backend.acquire("w1", ["default"], "t1")
    backend.acknowledge(lease, "w1", succeeded=True, value_json="3")
    with master.client() as c:
        assert int(c.info("commandstats")["cmdstat_wait"]["calls"]) == waits + 3
    replica = redis_cluster.node(replica_port)
    replica.pause()  # well under the cluster's node timeout: nobody fails over
    try:
        started = time.monotonic()
        with pytest.raises(ReplicationTimeout, match="only 0 of 1 replica") as caught:
            tasks.add.enqueue(2, 2)
        assert 0.25 < time.monotonic() - started < 3
        assert (caught.value.acknowledged, caught.value.required) == (0, 1)
    finally:
        replica.resume()
    assert backend.get_result(result.id).status == SUCCESSFUL
    wait_until(lambda: confirmed(tasks.noop.enqueue), 10)  # the replica is back


def confirmed(call) -> bool:
    try:
        call()
    except ReplicationTimeout:
        return False
    return True


@pytest.mark.cluster
def test_a_url_of_the_wrong_kind_fails_with_a_message_that_says_so(
    redis_cluster, standalone_server, make_backend
):
    backend = make_backend(f"redis+cluster://127.0.0.1:{standalone_server.port}/")
    with pytest.raises(BackendUnavailable, match="Cluster mode is not enabled"):
        tasks.noop.enqueue()
    # redis:// at a cluster node that does not own the alias's slot: it answers MOVED.
    owner = redis_cluster.master_of(backend.keys.base)
    other = next(port for port in redis_cluster.masters() if port != owner)
    make_backend(f"redis://127.0.0.1:{other}/0")
    with pytest.raises(BackendUnavailable, match="is a Redis Cluster node"):
        tasks.noop.enqueue()
