"""Task filters as people write them: the admin's search form (GET parameters, so a search
is a URL to share or bookmark) and `threadmill_ctl`'s options, both turned into one
`TaskFilter` by `parse_filter`, and back into parameters by `filter_params`.

Parameters: `task` (part of the task path; `name` is its older spelling), `error` (the
exception class of the last error, full path or name), `worker` (part of a worker id),
`args` (part of the arguments' JSON), `since` and `until` (a date `2026-12-05`, or a date
and time `2026-12-05T14:30` / `2026-12-05 14:30:00`, with or without a UTC offset; without
one it is in the current time zone; `until` with a date alone means the end of that day).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from threadmill.backends.search_records import TaskFilter

#: The parameters of a filter, in the order forms show them.
FILTER_PARAMS = ("task", "error", "worker", "args", "since", "until")
#: Longest text of one part (a task path, a class path, a worker id, an argument).
MAX_FILTER_TEXT = 200


def parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """A date or date-time as an aware datetime; ValueError saying what is accepted."""
    text = text.strip()
    moment = None
    with contextlib.suppress(ValueError):
        moment = parse_datetime(text.replace(" ", "T", 1))
    if moment is None:
        try:
            day = parse_date(text)
        except ValueError:
            day = None
        if day is None:
            raise ValueError(
                f"{text!r} is not a date or time: write 2026-12-05, 2026-12-05T14:30 or "
                "2026-12-05T14:30:00+01:00."
            )
        moment = datetime.combine(day, time.min)
        if end_of_day:
            moment += timedelta(days=1) - timedelta(milliseconds=1)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def parse_filter(values: Mapping[str, str | None]) -> TaskFilter:
    """A TaskFilter from parameters (missing or blank ones: any); ValueError naming the bad
    parameter and how to fix it."""

    def text(name: str) -> str:
        value = (values.get(name) or "").strip()
        if len(value) > MAX_FILTER_TEXT:
            raise ValueError(f"{name}: at most {MAX_FILTER_TEXT} characters.")
        return value

    moments: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        raw = text(name)
        try:
            moments[name] = parse_moment(raw, end_of_day=name == "until") if raw else None
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    since, until = moments["since"], moments["until"]
    if since and until and since > until:
        raise ValueError("since is after until: nothing can match; swap them.")
    return TaskFilter(
        path=text("task") or text("name"),
        error=text("error"),
        worker=text("worker"),
        args=text("args"),
        since=since,
        until=until,
    )


def filter_params(flt: TaskFilter) -> dict[str, str]:
    """The parameters of a filter (only the parts given), for URLs."""
    params = {
        "task": flt.path,
        "error": flt.error,
        "worker": flt.worker,
        "args": flt.args,
        "since": _iso(flt.since),
        "until": _iso(flt.until),
    }
    return {name: value for name, value in params.items() if value}


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def describe(flt: TaskFilter) -> str:
    """A filter in words: `task contains “x”, error Timeout, since …` ('' = every task)."""
    parts = []
    if flt.path:
        parts.append(f"task contains “{flt.path}”")
    if flt.error:
        parts.append(f"last error {flt.error}")
    if flt.worker:
        parts.append(f"worker contains “{flt.worker}”")
    if flt.args:
        parts.append(f"arguments contain “{flt.args}”")
    if flt.since:
        parts.append(f"since {_iso(flt.since)}")
    if flt.until:
        parts.append(f"until {_iso(flt.until)}")
    return ", ".join(parts)
