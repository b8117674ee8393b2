"""The broker's part of periodic schedules: enqueue each slot when it is due.

Every pool's broker runs this for the schedules of its alias; there is no leader. Which
pool enqueues a slot does not matter: the backend claims a slot and enqueues its task in one
atomic call (`fire_schedule`), so a slot is enqueued once however many pools try. The cost
is one call per due slot per pool, and nothing between slots: the next slot of each
schedule is computed here, on Redis's clock as the heartbeat measured it (`redis_now`), and
Redis refuses a slot that is not yet due by its own clock.

At start, the slots missed while no pool ran (older than `grace`, newer than the newest
slot claimed) follow the entry's `catch_up`: "none" claims them without running any,
"one" (default) runs the newest of them once, "all" runs each (the newest
CATCH_UP_ALL_LIMIT). A schedule never claimed before starts with its next slot.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from threadmill.backends.base import ThreadmillBackend
from threadmill.exceptions import BackendUnavailable
from threadmill.schedules import CATCH_UP_ALL_LIMIT, Schedule

logger = logging.getLogger("threadmill")

#: Most slots of one schedule enqueued in one tick (a pool back from a long Redis outage).
SLOTS_PER_TICK = 100


class Periodic:
    """The schedules of one alias, as one pool's broker runs them."""

    def __init__(self, backend: ThreadmillBackend, grace: float) -> None:
        self.backend = backend
        self.grace = timedelta(seconds=grace)
        self.entries, problems = backend.schedule_entries()
        for problem in problems:
            logger.error("Schedule left out: %s (%s)", problem.message, problem.id)
        self.next: dict[str, datetime] = {}
        self.started = False

    def next_slots(self) -> dict[str, datetime]:
        """The next slot of each schedule (empty until started)."""
        return dict(self.next)

    def tick(self, redis_now: float) -> None:
        """Enqueue what is due (on Redis's clock, as a Unix time)."""
        if not self.entries:
            return
        now = datetime.fromtimestamp(redis_now, tz=UTC)
        try:
            if not self.started:
                self._start(now)
            for entry in self.entries:
                self._fire_due(entry, now)
        except BackendUnavailable:
            return  # the broker logs the outage; the slots are still due next tick

    def _start(self, now: datetime) -> None:
        states = self.backend.schedule_states([e.name for e in self.entries])
        cutoff = now - self.grace
        for entry in self.entries:
            last = states[entry.name].last_slot
            if last is None:  # never claimed: no past to catch up
                self.next[entry.name] = entry.next_slot(now)
                continue
            missed = entry.due_between(last, cutoff, CATCH_UP_ALL_LIMIT)
            if missed:
                self._catch_up(entry, missed)
            self.next[entry.name] = entry.next_slot(max(last, cutoff))
        self.started = True

    def _catch_up(self, entry: Schedule, missed: list[datetime]) -> None:
        logger.info(
            "Schedule %s: %d slot(s) missed while no pool ran (catch_up=%s)",
            entry.name,
            len(missed),
            entry.catch_up,
        )
        if entry.catch_up == "none":
            self._fire(entry, missed[-1], "skip")
        elif entry.catch_up == "one":
            self._fire(entry, missed[-1], "catch-up")
        else:
            for slot in missed:
                self._fire(entry, slot, "catch-up")

    def _fire_due(self, entry: Schedule, now: datetime) -> None:
        for _ in range(SLOTS_PER_TICK):
            slot = self.next.get(entry.name)
            if slot is None or slot > now:
                return
            if self._fire(entry, slot, "slot") == "early":
                return  # Redis's clock is behind the estimate: due at a later tick
            self.next[entry.name] = entry.next_slot(slot)

    def _fire(self, entry: Schedule, slot: datetime, mode: str) -> str:
        try:
            fired = self.backend.fire_schedule(entry, slot, mode)
        except BackendUnavailable:
            raise
        except Exception:
            logger.exception(
                "Schedule %s: cannot enqueue its task %s for %s; the slot is skipped",
                entry.name,
                entry.task,
                slot.isoformat(),
            )
            return "failed"
        if fired.outcome == "enqueued":
            logger.info(
                "Schedule %s: enqueued task %s for %s", entry.name, fired.task_id, slot.isoformat()
            )
        elif fired.outcome in ("paused", "overlap", "unique"):
            logger.info("Schedule %s: slot %s not run (%s)", entry.name, slot, fired.outcome)
        return fired.outcome
