"""What the script wrappers (`scripts.py`) send and get back, apart from the wrappers
themselves: one script call ready to send (`Call`), the arguments they encode (a task of an
enqueue or schedule call, `NewTask`; a search filter, `filter_args`; `blank` for an
absent number), and the typed replies (`EnqueueReply`, `ScheduleReply`, `ChunkReply`,
`Page`) with the decoders that build them from what a script returns (`decode_ack`,
`decode_lease` ...). The Redis encodings they rely on (times in ms, task records) are
`redis_records.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .lua import Script
from .pool_records import HeartbeatReply
from .records import AckOutcome, AckResult, Lease, TaskRecord, TaskState
from .redis_records import from_ms, lease_from_reply, page_items_from_reply, to_ms
from .search_records import ErrorGroups, TaskFilter


@dataclass(slots=True)
class Call[T]:
    """One script call, ready to send: `decode(reply)` is its typed result."""

    script: Script
    keys: list[str]
    args: list[Any]
    decode: Callable[[Any], T]


# ---- arguments -----------------------------------------------------------------------


class NewTask(NamedTuple):
    """One task of an enqueue call, encoded."""

    id: str
    path: str
    priority: int
    takes_context: bool
    run_after_ms: int | None
    args_json: str
    kwargs_json: str
    timeout_ms: int | None = None
    expires_ms: int | None = None
    unique_digest: str = ""


def blank(value: int | None) -> int | str:
    return "" if value is None else value


def filter_args(flt: TaskFilter, state: TaskState) -> list[Any]:
    """A filter as the scripts take it: path, error, worker, args, since_ms, until_ms,
    time_field."""
    since = "" if flt.since is None else to_ms(flt.since)
    until = "" if flt.until is None else to_ms(flt.until)
    return [flt.path, flt.error, flt.worker, flt.args, since, until, TaskFilter.time_field(state)]


# ---- replies -------------------------------------------------------------------------


class EnqueueReply(NamedTuple):
    """enqueued_at (Redis time) and, for each task not created because an equal unique task
    is live, its position in the call -> the id of that task."""

    enqueued_at: datetime | None
    holders: dict[int, str]


class ScheduleReply(NamedTuple):
    """What one schedule call did: its outcome, the task id (enqueued, or the live unique
    task), and Redis time."""

    outcome: str
    task_id: str
    now: datetime | None


class ChunkReply(NamedTuple):
    """What one chunk of a bulk job did: the job's status afterwards, tasks examined,
    acted on, and matching ones refused."""

    status: str
    examined: int
    acted: int
    refused: int


class Page(NamedTuple):
    total: int
    next_offset: int
    items: list[TaskRecord]


def decode_enqueue(reply: list[Any]) -> EnqueueReply:
    holders = {int(p) - 1: h for p, h in zip(reply[1::2], reply[2::2], strict=True)}
    return EnqueueReply(from_ms(reply[0]), holders)


def decode_schedule(reply: list[Any]) -> ScheduleReply:
    return ScheduleReply(reply[0], reply[1], from_ms(reply[2]))


def decode_chunk(reply: list[Any]) -> ChunkReply:
    return ChunkReply(str(reply[0]), int(reply[1]), int(reply[2]), int(reply[3]))


def page_decoder(queue: str, state: TaskState) -> Callable[[list[Any]], Page]:
    """The decoder of a page or search reply of `queue`'s `state` list."""

    def decode(reply: list[Any]) -> Page:
        return Page(reply[0], reply[1], page_items_from_reply(reply, queue, state))

    return decode


def decode_lease(reply: Any) -> Lease | None:
    return lease_from_reply(reply) if reply else None


def decode_pairs(reply: list[Any]) -> dict[str, Any]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def decode_ack(reply: list[Any]) -> AckResult:
    return AckResult(AckOutcome(reply[0]), from_ms(reply[1]), decode_lease(reply[2]))  # type: ignore[arg-type]


def decode_heartbeat(reply: list[Any]) -> HeartbeatReply:
    return HeartbeatReply(now=from_ms(reply[0]), epoch=reply[1], data_lost_at=from_ms(reply[2]))  # type: ignore[arg-type]


def decode_error_groups(reply: list[Any]) -> ErrorGroups:
    pairs = [(str(reply[i]), int(reply[i + 1])) for i in range(2, len(reply), 2)]
    return ErrorGroups(int(reply[0]), int(reply[1]), pairs)


def as_is(reply: Any) -> Any:
    return reply
