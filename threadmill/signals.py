"""Signals Threadmill sends (Django's `task_started` / `task_finished` are sent as well).

`worker_started(sender, worker_id)`: in each new worker process, after the fork and before
its task threads start: the place to set up per-process resources. If a receiver raises,
the worker exits as "could not boot" and the master restarts it with backoff.

`bulk_job_finished(sender, backend, job_id)`: in the pool whose broker ran a bulk job's
last chunk, once the job is done. Threadmill's admin uses
it to write the job's history entry right away; a receiver that raises is logged and the
broker goes on.
"""

from django.dispatch import Signal

worker_started = Signal()
bulk_job_finished = Signal()
