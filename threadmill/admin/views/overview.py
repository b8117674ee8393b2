"""The overview page: per backend alias, the counts of every queue, its runs per minute (a
chart, see views/metrics.py) and the health of Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from threadmill.admin.charts import RunsChart
from threadmill.backends.health_records import ServerInfo
from threadmill.backends.records import QueueStats
from threadmill.exceptions import ThreadmillError

from .common import (
    PERM_VIEW,
    get_backend,
    page_context,
    render_live,
    require,
    threadmill_aliases,
)
from .metrics import alias_chart


@dataclass
class AliasOverview:
    """What the overview shows of one alias; `error` is set when Redis did not answer."""

    alias: str
    stats: list[QueueStats] = field(default_factory=list)
    server: ServerInfo | None = None
    chart: RunsChart | None = None  # runs per minute (None: metrics_window is 0)
    error: str = ""

    @property
    def measured_at(self) -> datetime | None:
        return self.stats[0].measured_at if self.stats else None

    @property
    def totals(self) -> QueueStats | None:
        """Every queue together (the overview's "All queues" row): sums of the counts, the
        oldest ready task of any queue; None with fewer than two queues."""
        if len(self.stats) < 2:
            return None
        sums = {name: sum(getattr(q, name) for q in self.stats) for name in _SUMMED}
        oldest = [q.oldest_ready_at for q in self.stats if q.oldest_ready_at]
        following = [q.next_deferred_at for q in self.stats if q.next_deferred_at]
        return QueueStats(
            queue="",
            oldest_ready_at=min(oldest, default=None),
            next_deferred_at=min(following, default=None),
            measured_at=self.stats[0].measured_at,
            **sums,
        )


#: The counts of QueueStats that add up over queues.
_SUMMED = (
    "ready",
    "deferred",
    "running",
    "successful",
    "failed",
    "successful_last_minute",
    "failed_last_minute",
    "enqueued_total",
    "successful_total",
    "failed_total",
    "retrying",
    "retried_total",
)


def alias_overview(alias: str, request: HttpRequest | None = None) -> AliasOverview:
    """Counts (one script call), the runs chart (one more) and server health of one alias;
    never raises on a dead Redis."""
    backend = get_backend(alias)
    found = AliasOverview(alias=alias)
    try:
        found.stats = backend.queue_stats()
        if request is not None:
            found.chart = alias_chart(request, backend)
    except ThreadmillError as exc:
        found.error = str(exc)
        return found  # server_info would only wait for the same dead server again
    found.server = backend.server_info()
    if not found.server.reachable:
        found.error = found.server.error
    return found


def overview(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(request, PERM_VIEW)
    sections = [alias_overview(alias, request) for alias in threadmill_aliases()]
    context = page_context(request, model_admin, "Threadmill", sections=sections)
    return render_live(request, "threadmill/overview.html", context)
