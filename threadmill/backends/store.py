"""One backend alias's Redis: where it is, its options, keys, scripts and this process's
clients, and the three ways of running a script call.

`RedisStore` is what the backend (`redis.py`) and its inspection (`inspection.py`) share;
neither reaches Redis any other way. A call (`script_values.Call`) runs:

* `run`: alone, on the process's command client (retries on connection errors), or with
  `read=True` on `reader`: inside `display.display_reads()` (admin pages, dashboard) the
  client that waits at most `admin_timeout` and never retries;
* `run_hot`: on the calling thread's own connection, for what every task does (enqueue,
  acquire, acknowledge); with `replica_acks` it returns once that many replicas have it;
* `run_many`: several calls, and plain reads after them, in one pipelined round trip.

Every error comes out as Threadmill's (`BackendUnavailable`, `RedisOutOfMemory`, ...) with the
server named and its password masked. A server that lost the scripts gets them again
(`lua.load_all`) and the call is sent once more.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from redis.exceptions import NoScriptError

from threadmill.options import BackendOptions

from . import display, lua
from .connection import (
    TRANSLATED,
    Clients,
    close_client,
    generation,
    get_clients,
    make_client,
    raise_translated,
    translate_errors,
)
from .hotpath import FENCE_SCRIPT, Packed, ReplicaAcks
from .keys import Keys
from .script_values import Call
from .scripts import Scripts
from .topology import CLUSTER, RedisTarget


def _flat(args: list[Any]) -> list[Any]:
    """Arguments as redis-py sends them: a Packed group becomes its values."""
    if not any(type(a) is Packed for a in args):
        return args
    out: list[Any] = []
    for a in args:
        if type(a) is Packed:
            out.extend(a.values)
        else:
            out.append(a)
    return out


class RedisStore:
    """The Redis side of one alias (created once per backend object, shared by threads)."""

    def __init__(self, alias: str, target: RedisTarget, config: BackendOptions) -> None:
        self.alias = alias
        self.target = target
        self.url = target.url
        self.display_url = target.masked  # the URL with its password masked
        self.config = config
        self.keys = Keys(config.key_prefix, alias)
        self.scripts = Scripts(self.keys, config)
        # On a cluster the alias's hash tag picks the master; one server serves any alias.
        self.slot_key = self.keys.base if target.kind == CLUSTER else ""
        self.acks: ReplicaAcks | None = None
        if config.replica_acks:
            self.acks = ReplicaAcks(
                config.replica_acks, config.replica_ack_timeout, self.keys.fence
            )
        self._clients: Clients | None = None
        self._clients_stamp: int | None = None

    # ---- clients ------------------------------------------------------------------------

    def clients(self) -> Clients:
        """This process's clients for this alias (fork-safe, shared by threads)."""
        stamp = generation()  # changes in a forked child and after close_all()
        if self._clients is None or self._clients_stamp != stamp:
            self._clients = get_clients(self.target, self.config, self.slot_key)
            self._clients_stamp = stamp
        return self._clients

    @property
    def client(self) -> Any:
        """The command client (redis.Redis, or on a cluster a client whose every command goes
        to the master of the alias's slot)."""
        return self.clients().commands

    @property
    def reader(self) -> Any:
        """The client of an inspection read: inside `display.display_reads()` (admin pages,
        dashboard) the short-timeout, no-retry one, else the command client."""
        clients = self.clients()
        return clients.reads if display.active() else clients.commands

    @property
    def blocking_client(self) -> Any:
        """The client for blocking waits (its socket timeout exceeds block_timeout)."""
        return self.clients().blocking

    @contextmanager
    def probe(self, timeout: float) -> Iterator[Any]:
        """A client of its own that waits at most `timeout` for anything and never retries
        (system checks: `manage.py migrate` must not hang on a dead Redis)."""
        client = make_client(self.target, self.config, self.slot_key, timeout, 0, timeout)
        try:
            yield client
        finally:
            close_client(client)

    def translate(self) -> AbstractContextManager[None]:
        """Context manager: redis-py's errors come out as Threadmill's."""
        return translate_errors(self.url)

    # ---- running script calls -----------------------------------------------------------

    def run[T](self, call: Call[T], *, read: bool = False) -> T:
        """One call on the command client; `read`: a read-only call, on `reader`."""
        client = self.reader if read else self.client
        args = [call.script.sha, len(call.keys), *call.keys, *_flat(call.args)]
        with translate_errors(self.url):
            try:
                reply = client.evalsha(*args)
            except NoScriptError:
                lua.load_all(client.script_load)
                reply = client.evalsha(*args)
        return call.decode(reply)

    def run_hot[T](self, call: Call[T], spin: bool = False) -> T:
        """A call made for every task, on this thread's own connection. `spin`: busy-wait
        briefly for the reply (the reply_spin option; not for an idle thread's calls)."""
        try:  # not `with translate_errors(...)`: runs for every enqueue and ack
            reply = self.clients().hot.evalsha(call.script, call.keys, call.args, self.acks, spin)
        except TRANSLATED as exc:
            raise_translated(exc, self.url)
        return call.decode(reply)

    def run_many(
        self,
        calls: Sequence[Call[Any]],
        reads: Sequence[tuple[str, tuple]] = (),
        *,
        wait_for_replicas: bool = False,
        read: bool = False,
    ) -> list[Any]:
        """Calls, then reads (`("hgetall", (key,))`, ...), in one round trip (not a
        transaction: each call is atomic on its own). Returns the decoded replies of the
        calls followed by the replies of the reads. `wait_for_replicas`: with replica_acks,
        WAIT at the end on the same connection, after a fence write (the pipeline may have
        been replayed on a new connection). `read`: read-only calls, on `reader`."""
        acks = self.acks if wait_for_replicas else None
        client = self.reader if read else self.client
        with translate_errors(self.url):
            for attempt in (1, 2):
                pipe = client.pipeline(transaction=False)
                for call in calls:
                    pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *_flat(call.args))
                for command, args in reads:
                    getattr(pipe, command)(*args)
                if acks is not None:
                    pipe.eval(FENCE_SCRIPT, 1, acks.fence_key, "1")
                    pipe.wait(acks.replicas, max(1, round(acks.timeout * 1000)))
                replies = pipe.execute(raise_on_error=False)
                if attempt == 1 and any(isinstance(r, NoScriptError) for r in replies):
                    lua.load_all(client.script_load)
                    continue
                for reply in replies:
                    if isinstance(reply, Exception):
                        raise reply
                if acks is not None:
                    acks.check(replies[-1])
                    replies = replies[:-2]
                break
        decoded = [call.decode(reply) for call, reply in zip(calls, replies, strict=False)]
        return decoded + list(replies[len(calls) :])

    def master_address(self) -> str:
        """host:port of the server that holds the alias's keys now (for display)."""
        return self.clients().master_address(reads=display.active())
