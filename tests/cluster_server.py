"""A real Redis Cluster on one box for the tests: N masters (+ replicas), free ports.

`RedisClusterServer` starts one `redis-server --cluster-enabled yes` per node (each with
its own data dir and AOF; the binary THREADMILL_TEST_SERVER chooses, so possibly a
`valkey-server`), joins them with `redis-cli --cluster create` (or the `valkey-cli` that
comes with the chosen server) and waits until every node reports `cluster_state:ok` and
agrees on the slot owners. A test may `kill()` (SIGKILL) a node and `start()` it again: it
rejoins with its `nodes.conf`, as a replica of the master that took over.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.server_binary import INSTALL_HINT, chosen_server

#: Node timeout of the test clusters: a killed master's replica takes over in ~3-5 s.
NODE_TIMEOUT_MS = 2000


def free_cluster_port(taken: set[int]) -> int:
    """A free port p whose bus port p + 10000 is free too (so p <= 55535), clear of the
    ports (and bus ports) in taken; adds both to taken."""
    while True:
        port = random.randint(20000, 45000)
        if {port, port + 10000} & taken:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        taken.update((port, port + 10000))
        return port


class PortTaken(RuntimeError):
    pass


class ClusterNodeProcess:
    def __init__(self, port: int, root: Path, appendfsync: str) -> None:
        self.port = port
        self.dir = root / str(port)
        self.dir.mkdir(parents=True)
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            chosen_server().server,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--repl-diskless-sync-delay", "0",  # replicas sync at once (default: 5 s)
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip

    def start(self) -> None:
        """Start on self.port; RuntimeError if it exits (PortTaken if its ports were
        taken meanwhile by another process)."""
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                if "Address already in use" in log:
                    raise PortTaken(self.port)
                raise RuntimeError(f"cluster node {self.port} exited:\n{log}")
            try:
                with self.client(socket_timeout=0.5) as c:
                    if c.ping():
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster node {self.port} did not start")
            time.sleep(0.02)

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, **kwargs)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class RedisClusterServer:
    """A disposable cluster of `masters` masters with `replicas` replicas each."""

    def __init__(self, masters: int = 3, replicas: int = 0, appendfsync: str = "everysec"):
        self.root = Path(tempfile.mkdtemp(prefix="threadmill-cluster-"))
        taken: set[int] = set()
        self.nodes = []
        try:
            for _ in range(masters * (1 + replicas)):
                for attempt in range(10):  # another process may take a port we picked
                    node = ClusterNodeProcess(free_cluster_port(taken), self.root, appendfsync)
                    try:
                        node.start()
                    except PortTaken:
                        node.kill()
                        if attempt == 9:
                            raise
                        continue
                    self.nodes.append(node)
                    break
            cli = chosen_server().cli
            if cli is None:
                raise RuntimeError(
                    "No redis-cli or valkey-cli to create a cluster. " + INSTALL_HINT
                )
            create = [cli, "--cluster", "create"]
            create += [f"127.0.0.1:{n.port}" for n in self.nodes]
            create += ["--cluster-replicas", str(replicas), "--cluster-yes"]
            subprocess.run(
                create,
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_healthy(replicas_per_master=replicas)
        except BaseException:
            self.close()
            raise

    # ---- addresses ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Every node, so a client survives the loss of the one it first knew."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes) + "/"

    def node(self, port: int) -> ClusterNodeProcess:
        return next(n for n in self.nodes if n.port == port)

    def live_nodes(self) -> list[ClusterNodeProcess]:
        return [n for n in self.nodes if n.alive]

    def client(self, **kwargs) -> RedisCluster:
        """A cluster client for test set-up and assertions (not what Threadmill uses)."""
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in self.live_nodes()],
            decode_responses=True,
            **kwargs,
        )

    def slot_of(self, key: str) -> int:
        with self.live_nodes()[0].client() as c:
            return int(c.execute_command("CLUSTER", "KEYSLOT", key))

    def master_of(self, key: str) -> int:
        """Port of the master that owns key's slot, as every live node sees it."""
        slot = self.slot_of(key)
        with self.live_nodes()[0].client() as c:
            for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise AssertionError(f"slot {slot} is not served")

    def masters(self) -> list[int]:
        with self.live_nodes()[0].client() as c:
            return sorted({int(entry[2][1]) for entry in c.execute_command("CLUSTER", "SLOTS")})

    # ---- health ---------------------------------------------------------------------

    def _healthy(self, replicas_per_master: int) -> bool:
        views = set()
        for node in self.live_nodes():
            with node.client(socket_timeout=1) as c:
                info = c.execute_command("CLUSTER", "INFO")
                if "cluster_state:ok" not in info:
                    return False
                slots = c.execute_command("CLUSTER", "SLOTS")
                if sum(int(e) - int(s) + 1 for s, e, *_ in slots) != 16384:
                    return False
                views.add(tuple(sorted((int(s), int(m[1])) for s, _e, m, *_ in slots)))
        if len(views) != 1:  # every node agrees on who owns what
            return False
        for master in {port for _s, port in next(iter(views))}:
            with self.node(master).client(socket_timeout=1) as c:
                if c.info("replication").get("role") != "master":
                    return False
                if int(c.info("replication").get("connected_slaves", 0)) < replicas_per_master:
                    return False
        return True

    def wait_healthy(self, replicas_per_master: int = 0, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(redis.RedisError):
                if self._healthy(replicas_per_master):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not healthy within {timeout}s")
            time.sleep(0.1)

    def flushall(self) -> None:
        for port in self.masters():
            with self.node(port).client() as c:
                c.flushall()

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisClusterServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
