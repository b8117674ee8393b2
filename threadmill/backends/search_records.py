"""Reading a queue's task lists, as the backend interface takes and returns it: a page of
one state's list (`TaskPage`), the filter of a search (`TaskFilter`), a search of task ids
by their first characters (`IdSearch`), a list's tasks counted by exception class
(`ErrorGroups`), and the bounds on how many index entries one such
read looks at (`SEARCH_SCAN`, `PREFIX_SCAN`). Plain values, no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .records import TaskRecord, TaskState


@dataclass(frozen=True, slots=True)
class TaskPage:
    queue: str
    state: TaskState
    items: list[TaskRecord]
    total: int
    offset: int
    limit: int
    name: str = ""  # the task-name filter, if any
    next_offset: int | None = None  # with a filter: the position after the last one examined
    filter: TaskFilter | None = None  # the filter of a search


@dataclass(frozen=True, slots=True)
class ErrorGroups:
    """How many of the newest `examined` of the `total` tasks of a list ended in each
    exception class (of their last error; '' when none is recorded), most frequent first."""

    total: int
    examined: int
    groups: list[tuple[str, int]]


#: Positions of an index that one search page looks at, at most: what bounds its cost.
SEARCH_SCAN = 10_000
#: Index entries one task-id prefix search looks at, at most: what bounds its cost.
PREFIX_SCAN = 50_000


@dataclass(frozen=True, slots=True)
class IdSearch:
    """What a search of task ids by their first characters found (`find_task_ids`)."""

    prefix: str
    matches: list[str]  # ids that start with prefix, at most the search's limit
    examined: int  # index entries looked at
    total: int  # index entries of every queue and state when the search began
    complete: bool  # every index was looked at to its end


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks of a list a search or a bulk job takes; every part given must match.

    `path`, `worker` and `args` are plain substrings (of the task path, of the ids of the
    workers that ran it, of its args or kwargs JSON); `error` is the class of its last
    error, by full path (`myapp.errors.Timeout`) or by name (`Timeout`); `since` and
    `until` bound, inclusively, when it finished (finished tasks) or was enqueued (the
    others)."""

    path: str = ""
    error: str = ""
    worker: str = ""
    args: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def __bool__(self) -> bool:
        return any((self.path, self.error, self.worker, self.args, self.since, self.until))

    @staticmethod
    def time_field(state: TaskState) -> str:
        """The record field `since` / `until` bound for tasks in `state`."""
        return "finished_at" if state.newest_first else "enqueued_at"
