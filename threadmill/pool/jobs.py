"""The broker's part of bulk jobs: carry out the chunks of the unfinished ones.

The admin and `threadmill_ctl` record a bulk job in the backend ("requeue every failed
task of this queue raising Timeout"); every pool's broker learns which jobs are unfinished
from its maintenance call (`MaintenanceReport.active_jobs`, no extra round trip) and runs
one chunk of each; while some remain, it runs a step of chunks only every
`broker.JOB_PAUSE`, so heartbeats, promotion and the workers' needs are served between
chunks. Each chunk is one atomic call over at most `batch_size` tasks that moves the job's
cursor (`backend.run_job_chunk`): pools may run the same job at once, and one killed
mid-job leaves nothing half done, so whichever pool runs next goes on where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from threadmill.backends.base import ThreadmillBackend
from threadmill.exceptions import BackendUnavailable

logger = logging.getLogger("threadmill")


class BulkJobs:
    """The unfinished bulk jobs, as one pool's broker carries them out."""

    def __init__(self, backend: ThreadmillBackend) -> None:
        self.backend = backend
        self.pending: list[str] = []

    def tick(self, active: Sequence[str]) -> None:
        """One chunk of each active job (ids from the maintenance report)."""
        self.pending = []
        for job_id in active:
            try:
                status, examined, acted = self.backend.run_job_chunk(job_id)
            except BackendUnavailable:
                self.pending = list(active)
                return  # the broker logs the outage; the jobs go on at the next step
            except Exception:
                logger.exception("Bulk job %s: a chunk failed; it is tried again", job_id)
                continue
            if status == "running":
                self.pending.append(job_id)
                logger.debug("Bulk job %s: %d examined, %d acted on", job_id, examined, acted)
            else:
                logger.info("Bulk job %s: %s", job_id, status)

    @property
    def busy(self) -> bool:
        """Whether jobs were left unfinished at the last step (the next step comes soon)."""
        return bool(self.pending)
