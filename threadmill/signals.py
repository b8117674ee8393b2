"""Signals Threadmill sends (Django's `task_started` / `task_finished` are sent as well).

`worker_started(sender, worker_id)`: in each new worker process, after the fork and before
its task threads start: the place to set up per-process resources. If a receiver raises,
the worker exits as "could not boot" and the master restarts it with backoff.
"""

from django.dispatch import Signal

worker_started = Signal()
