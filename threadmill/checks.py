"""System checks (`manage.py check`) with stable ids and a hint that says how to fix it.

Each Threadmill backend alias checks its own Redis through Django's `backend.check()` (see
`ThreadmillBackend.check` and `threadmill.backends.health`, which words every issue once):

threadmill.W001  Redis unreachable             threadmill.E001  eviction policy may drop tasks
threadmill.W002  persistence off               threadmill.W003  Redis lost data (detected)
threadmill.W004  a pool's host clock is off    threadmill.W005  fewer replicas than replica_acks
threadmill.E002  Redis older than 7.0

This module adds the checks that need no backend:

threadmill.W010  threadmill is installed but no TASKS alias uses its backend
threadmill.E030  the admin is installed but "django_htmx" is not in INSTALLED_APPS
threadmill.E031  the admin is installed but django-htmx's HtmxMiddleware is not in MIDDLEWARE
threadmill.E032  THREADMILL_METRICS_TOKEN is set but not a non-empty string
"""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_tasks_setting(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """threadmill is installed, but no TASKS alias uses one of its backends."""
    from django.conf import settings

    backends = [str(p.get("BACKEND", "")) for p in getattr(settings, "TASKS", {}).values()]
    if any(b.startswith("threadmill.") for b in backends):
        return []
    return [
        checks.Warning(
            "threadmill is in INSTALLED_APPS but no TASKS alias uses its backend.",
            hint="Set TASKS = {'default': {'BACKEND': "
            "'threadmill.backends.redis.RedisTaskBackend', 'REDIS_URL': ...}}.",
            id="threadmill.W010",
        )
    ]


HTMX_APP = "django_htmx"
HTMX_MIDDLEWARE = "django_htmx.middleware.HtmxMiddleware"


@checks.register(checks.Tags.admin)
def check_admin_htmx(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The Threadmill admin pages need django-htmx: its template tags (the htmx script) and
    its middleware (`request.htmx`, which live refresh and the batch progress rely on).
    Without them a page fails with a template error, or refreshes paste whole pages."""
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("django.contrib.admin"):
        return []
    problems: list[checks.CheckMessage] = []
    if not apps.is_installed(HTMX_APP):
        problems.append(
            checks.Error(
                f"The Threadmill admin pages need django-htmx, but {HTMX_APP!r} is not in "
                "INSTALLED_APPS (every Threadmill admin page would fail with a template "
                "error: 'django_htmx' is not a registered tag library).",
                hint=f"Add {HTMX_APP!r} to INSTALLED_APPS (django-htmx is installed with "
                "threadmill).",
                id="threadmill.E030",
            )
        )
    if HTMX_MIDDLEWARE not in getattr(settings, "MIDDLEWARE", []):
        problems.append(
            checks.Error(
                f"The Threadmill admin pages need django-htmx's middleware, but "
                f"{HTMX_MIDDLEWARE!r} is not in MIDDLEWARE (live refresh would paste whole "
                "pages into the page, and whole-set actions would not report progress).",
                hint=f"Add {HTMX_MIDDLEWARE!r} to MIDDLEWARE, after SessionMiddleware and "
                "AuthenticationMiddleware.",
                id="threadmill.E031",
            )
        )
    return problems


@checks.register(checks.Tags.security)
def check_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """THREADMILL_METRICS_TOKEN (the metrics view's bearer token), when set, is usable."""
    from django.conf import settings

    token = getattr(settings, "THREADMILL_METRICS_TOKEN", None)
    if token is None or (isinstance(token, str) and token.strip()):
        return []
    return [
        checks.Error(
            f"THREADMILL_METRICS_TOKEN must be a non-empty string, got {token!r}.",
            hint="Set it to a long random string (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`) that your Prometheus sends as a bearer "
            "token, or remove it to allow staff users only.",
            id="threadmill.E032",
        )
    ]
