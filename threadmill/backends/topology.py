"""What a `REDIS_URL` points at: one server, a Redis Cluster, or a Sentinel-managed primary.

    redis://[[user]:password@]host:port/db      one server (also rediss:// for TLS, unix://)
    redis+cluster://[[user]:password@]host1:port1,host2:port2,.../
    redis+sentinel://[[user]:password@]host1:26379,host2:26379/service[/db]

`rediss+cluster://` and `rediss+sentinel://` use TLS to the Redis servers. The credentials
authenticate to the Redis servers that hold the data (not to the sentinels). List several
cluster nodes or sentinels: a client that knew only one cannot find the others once that
one is gone. `parse_url` checks the shape and raises ValueError with a message that says
what is wrong; redis-py checks the rest when it connects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

STANDALONE, CLUSTER, SENTINEL = "standalone", "cluster", "sentinel"

_SCHEMES = {
    "redis": (STANDALONE, False),
    "rediss": (STANDALONE, True),
    "unix": (STANDALONE, False),
    "redis+cluster": (CLUSTER, False),
    "rediss+cluster": (CLUSTER, True),
    "redis+sentinel": (SENTINEL, False),
    "rediss+sentinel": (SENTINEL, True),
}
_DEFAULT_PORT = {CLUSTER: 6379, SENTINEL: 26379}
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]/]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class RedisTarget:
    """A parsed REDIS_URL. For standalone URLs only `kind` and `url` matter (redis-py
    parses them itself, as before)."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def masked(self) -> str:
        return mask_url(self.url)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs and pages (also for
    URLs that list several hosts)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    hosts = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


def parse_url(url: str) -> RedisTarget:
    """Parse REDIS_URL; ValueError names what is wrong (the password is never shown)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"must start with redis://, rediss:// or unix:// (one server), "
            f"redis+cluster:// (Redis Cluster) or redis+sentinel:// (Sentinel), "
            f"got {mask_url(url)!r}"
        )
    kind, tls = _SCHEMES[scheme]
    if kind == STANDALONE:
        return RedisTarget(kind, url, tls=tls)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(
            f"{scheme}:// URLs take no ?options or #fragment, got {mask_url(url)!r}; "
            "set timeouts and limits in OPTIONS"
        )
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if not userinfo:
        username = password = None
    nodes = tuple(_host_port(item, kind, url) for item in hostlist.split(","))
    segments = [s for s in parts.path.split("/") if s]
    if kind == CLUSTER:
        if segments not in ([], ["0"]):
            raise ValueError(
                f"a Redis Cluster has only database 0: end the URL with '/' (or '/0'), "
                f"got {mask_url(url)!r}"
            )
        return RedisTarget(kind, url, nodes, username=username, password=password, tls=tls)
    if not segments or len(segments) > 2:
        raise ValueError(
            "a Sentinel URL names the monitored service, and optionally the database: "
            f"redis+sentinel://host:26379/mymaster/0, got {mask_url(url)!r}"
        )
    db = _db(segments[1], url) if len(segments) == 2 else 0
    return RedisTarget(
        kind, url, nodes, service=unquote(segments[0]), db=db,
        username=username, password=password, tls=tls,
    )  # fmt: skip


def _host_port(item: str, kind: str, url: str) -> tuple[str, int]:
    match = _HOST_PORT.match(item.strip())
    if not item.strip() or not match:
        what = "cluster node" if kind == CLUSTER else "sentinel"
        raise ValueError(
            f"each {what} must be host:port, separated by commas, got {item!r} in {mask_url(url)!r}"
        )
    port = int(match.group("port") or _DEFAULT_PORT[kind])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range in {mask_url(url)!r}")
    return (match.group("v6") or match.group("host"), port)


def _db(text: str, url: str) -> int:
    if not text.isdigit():
        raise ValueError(f"the database must be a number, got {text!r} in {mask_url(url)!r}")
    return int(text)
