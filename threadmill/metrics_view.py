"""The Prometheus scrape endpoint: every Threadmill alias's metrics in the text format
(`threadmill.exposition`), read from Redis on each scrape, so any process serving it answers
the same. Route it with `path("metrics/", include("threadmill.urls.metrics"))` or route
`metrics_view` yourself (docs/metrics.md).

Access: a request with `Authorization: Bearer <THREADMILL_METRICS_TOKEN>` (the setting; no
token configured: no token is accepted), or a logged-in active staff user. Otherwise 401
(no credentials; `WWW-Authenticate: Bearer`) or 403 (a wrong token, or a user who is not
staff).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from threadmill.exposition import CONTENT_TYPE, collect, render, threadmill_backends

#: The setting holding the bearer token a scraper sends.
TOKEN_SETTING = "THREADMILL_METRICS_TOKEN"


def _denied(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the 401 / 403 to answer."""
    token = getattr(settings, TOKEN_SETTING, None)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and token and hmac.compare_digest(given.strip(), token):
            return None
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return None
    if header or (user is not None and user.is_authenticated):
        return HttpResponse("Forbidden: wrong token, or not a staff user.\n", status=403)
    response = HttpResponse(
        f"Unauthorized: send 'Authorization: Bearer <{TOKEN_SETTING}>' or log in as staff.\n",
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="threadmill"'
    return response


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every Threadmill alias's metrics, Prometheus text format."""
    denied = _denied(request)
    if denied is not None:
        return denied
    response = HttpResponse(render(collect(threadmill_backends())), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
