"""System checks (`manage.py check`) with stable ids and a hint that says how to fix it.

Each Threadmill backend alias checks its own Redis through Django's `backend.check()` (see
`ThreadmillBackend.check` and `threadmill.backends.health`, which words every issue once):

threadmill.W001  Redis unreachable             threadmill.E001  eviction policy may drop tasks
threadmill.W002  persistence off               threadmill.W003  Redis lost data (detected)
threadmill.W004  a pool's host clock is off    threadmill.W005  fewer replicas than replica_acks
threadmill.E002  Redis older than 7.0

This module adds the check that needs no backend:

threadmill.W010  threadmill is installed but no TASKS alias uses its backend
threadmill.E030  THREADMILL_METRICS_TOKEN is set but not a non-empty string
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
            id="threadmill.E030",
        )
    ]
