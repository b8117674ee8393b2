"""Run-metrics pages of the admin: the overview's runs-per-minute chart (`alias_chart`), the
Metrics page (one sortable row per queue and task path: runs, failure rate, p50/p95 run
time, last failure) and a task path's page (run-time histogram, recent failures grouped by
exception class). Everything is read from the run metrics the workers write (docs/metrics.md).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse

from threadmill.admin import charts
from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.metric_records import TaskMetrics
from threadmill.exceptions import ThreadmillError

from .common import PERM_VIEW, get_backend, page_context, render_live, require

#: Spans the metrics pages offer: name -> (seconds, label).
SPANS = {"hour": (3600.0, "last hour"), "day": (86400.0, "last day")}

#: Sortable columns of the Metrics page -> the value sorted on (None sorts last).
SORTS: dict[str, Any] = {
    "path": lambda m: (m.path, m.queue),
    "queue": lambda m: (m.queue, m.path),
    "runs": lambda m: m.runs,
    "failure_rate": lambda m: m.failure_rate,
    "p50": lambda m: m.p50,
    "p95": lambda m: m.p95,
    "max": lambda m: m.max_ms,
    "last_failure": lambda m: m.last_failure.at.timestamp() if m.last_failure else None,
}
DEFAULT_SORT = "-runs"


def span_param(request: HttpRequest) -> str:
    value = request.GET.get("span", "hour")
    return value if value in SPANS else "hour"


def alias_chart(request: HttpRequest, backend: ThreadmillBackend) -> charts.RunsChart | None:
    """The overview's chart of one alias (`?chart=hour|day`), or None when its run
    metrics are off (metrics_window 0). Raises ThreadmillError when Redis does not answer."""
    if not backend.config.metrics_window:
        return None
    span = request.GET.get("chart", "hour")
    span = span if span in charts.SPANS else "hour"
    minutes = backend.metrics_minutes(charts.SPANS[span][0])
    return charts.runs_chart(backend.alias, minutes, span)


def sort_rows(rows: list[TaskMetrics], sort: str) -> tuple[list[TaskMetrics], str]:
    """Rows sorted by `sort` (a SORTS key, '-' first for descending); unknown: the default."""
    key = sort.lstrip("-")
    if key not in SORTS:
        sort, key = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    value = SORTS[key]
    known = [r for r in rows if value(r) is not None]
    unknown = [r for r in rows if value(r) is None]
    known.sort(key=value, reverse=sort.startswith("-"))
    return known + unknown, sort


def metrics_page(request: HttpRequest, model_admin: ModelAdmin, alias: str) -> TemplateResponse:
    """One row per queue and task path that ran in the span."""
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    span = span_param(request)
    context: dict[str, Any] = {
        "alias": alias,
        "span": span,
        "span_label": SPANS[span][1],
        "spans": SPANS,
        "rows": [],
        "error": "",
        "metrics_off": not backend.config.metrics_window,
    }
    try:
        rows = backend.task_metrics(span=SPANS[span][0], failures=1)
    except ThreadmillError as exc:
        context["error"] = str(exc)
        rows = []
    context["rows"], context["sort"] = sort_rows(rows, request.GET.get("sort", DEFAULT_SORT))
    context["columns"] = [
        ("path", "Task"),
        ("queue", "Queue"),
        ("runs", "Runs"),
        ("failure_rate", "Failure rate"),
        ("p50", "p50"),
        ("p95", "p95"),
        ("max", "Max"),
        ("last_failure", "Last failure"),
    ]
    title = f"Task metrics of backend “{alias}”"
    return render_live(
        request, "threadmill/metrics.html", page_context(request, model_admin, title, **context)
    )


def task_metrics_page(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, task_path: str
) -> TemplateResponse:
    """One task path's runs in one queue (`?queue=`): histogram and failures by class."""
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    queue = request.GET.get("queue", "")
    span = span_param(request)
    context: dict[str, Any] = {
        "alias": alias,
        "queue": queue,
        "task_path": task_path,
        "span": span,
        "span_label": SPANS[span][1],
        "spans": SPANS,
        "metrics": None,
        "error": "",
    }
    try:
        if queue not in backend.queue_names():
            raise Http404(f"No queue {queue!r} in backend {alias!r} (the ?queue= parameter).")
        found = backend.task_metrics(span=SPANS[span][0], queue=queue, path=task_path, failures=20)
        if found:
            context["metrics"] = found[0]
            context["histogram"] = charts.histogram_rows(found[0].buckets)
            context["histogram_height"] = 20 * len(context["histogram"])
            context["groups"] = found[0].failures_by_class()
    except ThreadmillError as exc:
        context["error"] = str(exc)
    title = f"{task_path} in queue “{queue}”"
    return render_live(
        request,
        "threadmill/task_metrics.html",
        page_context(request, model_admin, title, **context),
    )
