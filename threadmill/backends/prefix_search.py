"""Task ids by their first characters: what "Go to task id" does with the 12 characters
`threadmill_top` prints.

Task ids are random, so no index is ordered by id: the search walks the state indexes of
every queue (`q:<queue>:<status>`, RUNNING and FAILED first, the tasks `threadmill_top`
shows) with ZSCAN ... MATCH <prefix>*, pipelined, SCAN_COUNT entries per index and round
trip. It stops at `limit` matches (two already mean "ambiguous") or after `budget` index
entries (search_records.PREFIX_SCAN, 50,000: a few round trips and a few milliseconds of
Redis time), never walking the keyspace (SCAN over task:* would cost O(all keys)).
"""

from __future__ import annotations

from collections.abc import Sequence

from .keys import STATUS_INDEXES
from .search_records import PREFIX_SCAN, IdSearch
from .store import RedisStore

#: Index entries asked of one index per round trip (ZSCAN's COUNT).
SCAN_COUNT = 1000
#: The order indexes are searched in: what the dashboard shows ids of comes first.
SEARCH_ORDER = ("running", "failed", "ready", "deferred", "successful")
assert sorted(SEARCH_ORDER) == sorted(STATUS_INDEXES)


def glob_escape(text: str) -> str:
    """text as a literal in a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def find_task_ids(
    store: RedisStore,
    queues: Sequence[str],
    prefix: str,
    limit: int = 5,
    budget: int = PREFIX_SCAN,
) -> IdSearch:
    """Ids of tasks that start with prefix, in the indexes of queues (see the module)."""
    keys = [store.keys.index(q, status) for status in SEARCH_ORDER for q in queues]
    pattern = glob_escape(prefix) + "*"
    found: dict[str, None] = {}
    examined = 0
    client = store.reader
    with store.translate():
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.zcard(key)
        sizes = dict(zip(keys, pipe.execute(), strict=True))
        left = {key: size for key, size in sizes.items() if size}  # entries not yet seen
        cursors = dict.fromkeys(left, 0)
        while cursors and examined < budget and len(found) < limit:
            pipe = client.pipeline(transaction=False)
            asked = list(cursors)
            for key in asked:
                pipe.zscan(key, cursors[key], match=pattern, count=SCAN_COUNT)
            for key, (cursor, items) in zip(asked, pipe.execute(), strict=True):
                seen = min(left[key], SCAN_COUNT) if cursor else left[key]
                left[key] -= seen
                examined += seen
                for task_id, _score in items:
                    found[task_id] = None
                if cursor:
                    cursors[key] = cursor
                else:
                    del cursors[key]
    matches = list(found)[:limit]
    return IdSearch(
        prefix=prefix,
        matches=matches,
        examined=examined,
        total=sum(sizes.values()),
        complete=not cursors,
    )
