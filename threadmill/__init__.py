"""Threadmill: a durable Redis backend, a worker pool, admin pages and a terminal dashboard
for Django's task framework (`django.tasks`).

The names a task module uses: `Backoff` (a retry policy), `current_task()` (the running
attempt: cancellation requests, more time), `ThreadmillTask` (what `@task` builds for a
Threadmill alias). They load on first use, so importing the package stays cheap.
"""

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Backoff": "threadmill.retry",
    "current_task": "threadmill.running",
    "RunningTask": "threadmill.running",
    "ThreadmillTask": "threadmill.task",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'threadmill' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
