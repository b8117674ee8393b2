"""Template filters of the Threadmill admin pages: durations, ages, sizes, counts, JSON,
compact times, short arguments, an error's message line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


def format_duration(seconds: float | None) -> str:
    """A short human duration: `850 ms`, `4.2 s`, `3 min 5 s`, `2 h 7 min`, `3 d 4 h`."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 1:
        text = f"{s * 1000:.0f} ms"
    elif s < 60:
        text = f"{s:.1f} s"
    elif s < 3600:
        text = f"{int(s // 60)} min {int(s % 60)} s"
    elif s < 86400:
        text = f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    else:
        text = f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"
    return sign + text


@register.filter
def tm_since(moment: datetime | None, now: datetime | None) -> str:
    """How long ago moment was, measured against now (Redis time, not the web host's)."""
    if moment is None or now is None:
        return "—"
    return format_duration((now - moment).total_seconds())


@register.filter
def tm_until(moment: datetime | None, now: datetime | None) -> str:
    """How long until moment (a schedule's next slot), measured from now."""
    if moment is None or now is None:
        return "—"
    return format_duration((moment - now).total_seconds())


@register.filter
def tm_seconds(seconds: float | None) -> str:
    """A number of seconds as a short duration (a task's timeout, expires, lease_ttl)."""
    return format_duration(seconds)


@register.filter
def tm_bytes(value: int | None) -> str:
    if not value:
        return "0 B"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


@register.filter
def tm_count(value: int | None) -> str:
    """An integer with thousands separators (1,000,000)."""
    return f"{int(value or 0):,}"


@register.filter
def tm_json(value: Any) -> str:
    """Pretty JSON of a decoded value. The result is plain text: autoescaping still applies
    in the template, so `<script>` in an argument is shown, never run."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


@register.filter
def tm_json_line(value: Any) -> str:
    """Compact one-line JSON (a schedule's args and kwargs); escaped by the template."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return repr(value)


@register.filter
def tm_stat(stats: Any, state: Any) -> int:
    """The count of a state in a QueueStats (`stats|tm_stat:state`)."""
    return stats.count(state) if stats is not None else 0


@register.filter
def tm_last(values: Any) -> Any:
    """The last item of a list, or '' (worker_ids -> the latest worker)."""
    if isinstance(values, (list, tuple)) and values:
        return values[-1]
    return values if isinstance(values, str) else ""


@register.filter
def tm_percent(value: float | None) -> str:
    """0.0123 -> '1.2 %' (run metrics' failure rates)."""
    return "—" if value is None else f"{100 * value:.1f} %"


@register.filter
def tm_ms(value: float | None) -> str:
    """A run time in ms, as the metrics pages show it: '12 ms', '1.5 s', '—' for none."""
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:,.1f} s"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


@register.filter
def tm_time(moment: datetime | None, now: datetime | None = None) -> str:
    """A compact time for lists, in the current time zone: `14:30:02` on the day of `now`
    (default: this host's clock), `12-05 14:30` otherwise, `2025-12-05` in another year;
    the full timestamp with its time zone on hover (`<time title=…>`). '—' for none."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    today = timezone.localtime(now) if now is not None and timezone.is_aware(now) else None
    today = today or (timezone.localtime() if timezone.is_aware(moment) else datetime.now())
    if local.date() == today.date():
        short = local.strftime("%H:%M:%S")
    elif local.year == today.year:
        short = local.strftime("%m-%d %H:%M")
    else:
        short = local.strftime("%Y-%m-%d")
    full = local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    zone = local.tzname() or ""
    return format_html(
        '<time datetime="{}" title="{} {}">{}</time>', local.isoformat(), full, zone, short
    )


@register.filter
def tm_args(record: Any, width: int = 40) -> str:
    """The arguments of a task in short: `(42, "alice", note="x")`, cut at `width`."""
    parts = [json.dumps(a, default=str) for a in (record.args or [])]
    kwargs = record.kwargs if isinstance(record.kwargs, dict) else {}
    parts += [f"{k}={json.dumps(v, default=str)}" for k, v in kwargs.items()]
    text = "(" + ", ".join(parts) + ")"
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


@register.filter
def tm_error_line(error: Any) -> str:
    """The first line of an error's message (`boom` of `ValueError: boom`), from the last
    line of its traceback that names the class."""
    if error is None:
        return ""
    name = error.exception_name
    lines = [line for line in error.traceback.splitlines() if line.strip()]
    for line in reversed(lines):
        for prefix in (error.exception_class_path + ":", name + ":"):
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return ""


@register.filter
def tm_zone(now: Any = None) -> str:
    """The current time zone's name, as list headers show it."""
    return str(timezone.get_current_timezone_name())
