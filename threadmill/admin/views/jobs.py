"""Bulk job pages: the recent jobs of an alias, one job's progress (live), cancelling one.

A job is carried out by the pools' brokers, not by these pages: closing the tab changes
nothing. When no live pool reports in, the pages say that the job waits. The audit entry
of a finished job is written here, by the first admin page that sees it finished (the
brokers have no request user and need no database; the job records who started it).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from threadmill.admin.history import log_job_once
from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.job_records import BulkJob
from threadmill.exceptions import ThreadmillError
from threadmill.filters import describe

from .common import (
    PERM_CANCEL,
    PERM_PURGE,
    PERM_REQUEUE,
    PERM_VIEW,
    get_backend,
    list_url,
    page_context,
    render_live,
    require,
    url,
    who,
)

#: The permission that starting, and cancelling, a job of each action takes.
JOB_PERMS = {"requeue": PERM_REQUEUE, "purge": PERM_PURGE, "cancel": PERM_CANCEL}
VERBS = {"requeue": "Requeue", "purge": "Purge", "cancel": "Cancel"}


def _log_finished(backend: ThreadmillBackend, alias: str, jobs: list[BulkJob]) -> None:
    """Write the audit entry of each finished job not logged yet (once: claimed first)."""
    for job in jobs:
        log_job_once(backend, job)


def _live_pools(backend: ThreadmillBackend) -> int:
    return sum(1 for p in backend.pools() if not p.stale)


def _row(alias: str, job: BulkJob, user: Any) -> dict[str, Any]:
    label = "retrying" if job.retrying else job.state.slug
    return {
        "job": job,
        "label": label,
        "verb": VERBS.get(job.action, job.action),
        "where": describe(job.filter),
        "url": url("job", alias, job.id),
        "list_url": list_url(alias, job.queue, job.state, job.retrying),
        "can_cancel": not job.status.finished and user.has_perm(JOB_PERMS[job.action]),
    }


def jobs_list(request: HttpRequest, model_admin: ModelAdmin, alias: str) -> HttpResponse:
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    context: dict[str, Any] = {"alias": alias, "rows": [], "error": "", "live_pools": 0}
    try:
        jobs = backend.jobs()
        _log_finished(backend, alias, jobs)
        context["rows"] = [_row(alias, job, request.user) for job in jobs]
        context["active"] = sum(1 for job in jobs if not job.status.finished)
        context["live_pools"] = _live_pools(backend)
    except ThreadmillError as exc:
        context["error"] = str(exc)
    return render_live(
        request,
        "threadmill/jobs.html",
        page_context(request, model_admin, f"Bulk jobs of backend “{alias}”", **context),
    )


def job_detail(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, job_id: str
) -> HttpResponse:
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    context: dict[str, Any] = {"alias": alias, "job_id": job_id, "error": "", "row": None}
    try:
        job = backend.get_job(job_id)
        if job is None:
            raise Http404(f"No bulk job {job_id!r} (finished jobs are kept for a week).")
        _log_finished(backend, alias, [job])
        context["row"] = _row(alias, job, request.user)
        context["live_pools"] = _live_pools(backend)
    except ThreadmillError as exc:
        context["error"] = str(exc)
    return render_live(
        request,
        "threadmill/job.html",
        page_context(request, model_admin, f"Bulk job {job_id}", **context),
    )


@require_POST
def job_cancel(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, job_id: str
) -> HttpResponse:
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    try:
        job = backend.get_job(job_id)
        if job is None:
            raise Http404(f"No bulk job {job_id!r}.")
        require(request, JOB_PERMS[job.action])
        status = backend.cancel_job(job_id, who(request))
    except ThreadmillError as exc:
        messages.error(request, f"The job could not be cancelled: {exc}")
        return HttpResponseRedirect(url("job", alias, job_id))
    if status == "cancelled":
        messages.success(request, "The job is cancelled; what it did so far stays done.")
    else:
        messages.info(request, f"The job had already finished ({status}).")
    return HttpResponseRedirect(url("job", alias, job_id))
