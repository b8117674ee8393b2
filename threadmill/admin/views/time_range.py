"""`?since=&until=` on a list of finished tasks: only those that finished in that span (epoch
seconds; at or after since, before until), as the overview chart's minute links ask for. Minimal by
design: the span is found in the newest-first list once (`backend.finished_between`), and
paging works within it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from django.http import HttpRequest
from django.utils import timezone

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import TaskPage, TaskState


@dataclass(frozen=True)
class TimeRange:
    since: datetime
    until: datetime


def _moment(seconds: int) -> datetime:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment if timezone.is_aware(timezone.now()) else timezone.make_naive(moment)


def from_request(request: HttpRequest) -> TimeRange | None:
    """The span asked for, or None; ValueError saying what is wrong with a bad one."""
    raw_since, raw_until = request.GET.get("since", ""), request.GET.get("until", "")
    if not raw_since and not raw_until:
        return None
    try:
        since = int(raw_since or 0)
        until = int(raw_until or 2**40)
    except ValueError:
        raise ValueError(
            f"since and until must be whole epoch seconds (got since={raw_since!r}, "
            f"until={raw_until!r}); showing every task instead."
        ) from None
    if not 0 <= since <= until <= 2**40:
        raise ValueError(
            f"since ({since}) must not be after until ({until}); showing every task instead."
        )
    return TimeRange(_moment(since), _moment(until))


def page_within(
    backend: ThreadmillBackend,
    queue: str,
    state: TaskState,
    span: TimeRange,
    offset: int,
    limit: int,
) -> TaskPage:
    """A page of the tasks of a finished state that finished within span, newest first;
    `total` counts only those."""
    skip, count = backend.finished_between(queue, state, span.since, span.until)
    if offset >= count:
        return TaskPage(queue=queue, state=state, items=[], total=count, offset=offset, limit=limit)
    page = backend.list_tasks(queue, state, skip + offset, min(limit, count - offset))
    return replace(page, total=count, offset=offset, limit=limit)
