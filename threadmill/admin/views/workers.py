"""The workers page: every live pool of an alias as its heartbeats describe it."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from threadmill.exceptions import ThreadmillError

from .common import PERM_VIEW, get_backend, page_context, render_live, require


def workers(request: HttpRequest, model_admin: ModelAdmin, alias: str) -> TemplateResponse:
    require(request, PERM_VIEW)
    backend = get_backend(alias)
    context: dict[str, Any] = {"alias": alias, "pools": [], "now": None, "error": ""}
    try:
        context["pools"] = backend.pools()
        server = backend.server_info()  # Redis time: ages do not depend on this host's clock
        context["now"] = server.now
        context["server"] = server
        context["heartbeat_ttl"] = backend.config.heartbeat_ttl
    except ThreadmillError as exc:
        context["error"] = str(exc)
    context["busy"] = sum(w.busy for p in context["pools"] for w in p.report.workers)
    context["threads"] = sum(len(w.threads) for p in context["pools"] for w in p.report.workers)
    title = f"Workers of backend “{alias}”"
    return render_live(
        request, "threadmill/workers.html", page_context(request, model_admin, title, **context)
    )
