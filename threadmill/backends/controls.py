"""Operations on one alias's Redis that steer work rather than inspect it: pause and resume a
queue, run a deferred task now, queue a control request for a pool, and a worker's wait for
the cancel requests sent to it (`Keys.control`, pushed by cancel.lua).

A pause is a member of the alias's paused set (`Keys.paused`). The scripts that lease tasks
read it (one set lookup in the acquire / park / acknowledge call a task already costs, and
one in the hand-off to a parked thread), so a pause takes effect at the next lease, survives
pool restarts, and costs no round trip. Enqueues ignore it: a paused queue keeps its tasks.
Resuming hands the queue's ready tasks to the threads parked on it in the same script.

A pool request is pushed on the pool's request list (`Keys.pool_requests`), which the pool's
master takes with its maintenance call every `broker_interval`; it expires unread after a
minute (a pool that died meanwhile must not act on it when an id is reused).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from threadmill.exceptions import UnknownPool

from .pool_records import POOL_ACTIONS
from .records import ControlRequest
from .store import RedisStore

#: An unread pool request goes away after this long (ms).
POOL_REQUEST_TTL_MS = 60_000


def check_queue_name(queue: str) -> str:
    """A queue name as pause / resume accept it (non-empty, no surrounding spaces)."""
    if not isinstance(queue, str) or not queue.strip() or queue != queue.strip():
        raise ValueError(f"{queue!r} is not a queue name: give a non-empty name, no spaces around.")
    return queue


class RedisControls:
    """Pause / resume, run now, pool requests and the cancel requests a worker waits for,
    of one alias, over its store."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.keys = store.keys
        self.scripts = store.scripts

    def wait_for_control(self, worker_id: str, timeout: float) -> list[ControlRequest]:
        """The cancel requests for worker_id's tasks: blocks up to timeout for the first,
        then takes the rest at once (at most 100)."""
        key = self.keys.control(worker_id)
        with self.store.translate():
            reply = self.store.blocking_client.blpop([key], timeout=timeout)
            if reply is None:
                return []
            rest = self.store.client.lpop(key, 100) or []
        requests = []
        for raw in [reply[1], *rest]:
            try:
                task_id, token, terminate, who = json.loads(raw)
            except (TypeError, ValueError):
                continue  # not a request Threadmill wrote
            requests.append(ControlRequest(task_id, token, bool(terminate), who))
        return requests

    def pause_queue(self, queue: str) -> bool:
        """Pause queue; False when it was paused already."""
        with self.store.translate():
            return bool(self.store.client.sadd(self.keys.paused, check_queue_name(queue)))

    def resume_queue(self, queue: str) -> tuple[bool, int]:
        """Resume queue: (whether it was paused, tasks handed to parked threads at once)."""
        return self.store.run(self.scripts.resume_queue(queue=check_queue_name(queue)))

    def paused_queues(self) -> list[str]:
        with self.store.translate():
            return sorted(self.store.reader.smembers(self.keys.paused))

    def run_now(self, task_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(task_ids))
        outcomes: dict[str, str] = {}
        size = self.store.config.batch_size
        for start in range(0, len(ids), size):
            outcomes.update(self.store.run(self.scripts.run_now(ids=ids[start : start + size])))
        return outcomes

    def request_pool(self, pool_id: str, action: str) -> None:
        if action not in POOL_ACTIONS:
            raise ValueError(
                f"Unknown pool action {action!r}: use one of {', '.join(POOL_ACTIONS)}."
            )
        with self.store.translate():
            client = self.store.client
            pipe = client.pipeline(transaction=False)
            pipe.zscore(self.keys.pools, pool_id)
            pipe.time()
            deadline, (now_s, now_us) = pipe.execute()
            if deadline is None or deadline < now_s * 1000 + now_us // 1000:
                raise UnknownPool(
                    f"No live pool {pool_id!r} on this backend: see the pools (admin Workers "
                    "page, `manage.py threadmill_ctl pool list`) for the ids of live pools."
                )
            pipe = client.pipeline(transaction=True)
            pipe.rpush(self.keys.pool_requests(pool_id), action)
            pipe.pexpire(self.keys.pool_requests(pool_id), POOL_REQUEST_TTL_MS)
            pipe.execute()

    def take_requests_read(self, pool_id: str) -> tuple[str, tuple]:
        """The read (for `RedisStore.run_many`) that takes a pool's pending requests."""
        return ("lpop", (self.keys.pool_requests(pool_id), 50))


def decode_requests(reply: Sequence[str] | None) -> list[str]:
    """The actions a pool took (unknown ones dropped: not written by Threadmill)."""
    return [action for action in reply or [] if action in POOL_ACTIONS]
