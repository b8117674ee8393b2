"""What Redis knows of periodic schedules, read for the broker, the admin, the CLI and top.

One pipeline reads each named schedule's state hash and runs list (`K.schedule`,
`K.schedule_runs`); a second reads the status of the tasks those runs enqueued, so that a
page can show "last runs with their status" without one call per run. Every time here is
an aware UTC datetime whatever `USE_TZ` says: the broker compares them with Redis time,
and the pages localize them for display.
"""

from __future__ import annotations

from collections.abc import Sequence

from .keys import Keys
from .redis_records import from_ms
from .schedule_records import ScheduleRun, ScheduleState
from .store import RedisStore


def read_schedule_states(
    store: RedisStore, keys: Keys, names: Sequence[str]
) -> dict[str, ScheduleState]:
    """The state of each named schedule (two round trips, whatever the number of names)."""
    if not names:
        return {}
    with store.translate():
        pipe = store.reader.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.schedule(name))
            pipe.lrange(keys.schedule_runs(name), 0, -1)
        replies = pipe.execute()
        runs_of = {
            name: [_parse_run(entry) for entry in replies[2 * n + 1]]
            for n, name in enumerate(names)
        }
        ids = sorted({run.task_id for runs in runs_of.values() for run in runs if run.task_id})
        statuses: dict[str, str] = {}
        if ids:
            pipe = store.reader.pipeline(transaction=False)
            for task_id in ids:
                pipe.hget(keys.task(task_id), "status")
            statuses = {i: s or "" for i, s in zip(ids, pipe.execute(), strict=True)}
    states = {}
    for n, name in enumerate(names):
        fields = replies[2 * n]
        states[name] = ScheduleState(
            name=name,
            last_slot=from_ms(fields.get("last"), use_tz=True),
            paused=fields.get("paused") == "1",
            skipped=int(fields.get("skipped") or 0),
            skipped_last=from_ms(fields.get("skipped_last"), use_tz=True),
            current=fields.get("current", ""),
            runs=[
                ScheduleRun(run.slot, run.task_id, run.how, statuses.get(run.task_id, ""))
                for run in runs_of[name]
            ],
        )
    return states


def _parse_run(entry: str) -> ScheduleRun:
    """One runs-list entry, 'slot_ms:task_id:how'."""
    slot, task_id, how = (entry.split(":", 2) + ["", ""])[:3]
    try:
        when = from_ms(slot, use_tz=True)
    except (TypeError, ValueError, OverflowError):
        when = None
    return ScheduleRun(when, task_id, how)
