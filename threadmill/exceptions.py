"""Threadmill's exceptions: what callers catch, and the error classes recorded on FAILED tasks.

The classes recorded on tasks (`AcknowledgementTimeout`, `WorkerLost`, `TaskNotFound`,
`CorruptTaskData`, `ResultNotSerializable`, `ResultTooLarge`, `TimeLimitExceeded`,
`Cancelled`, `Expired`) appear as
`TaskError.exception_class_path` of a FAILED `TaskResult`, so their import paths are stable.
"""

from django.tasks.exceptions import InvalidTask, TaskException


class ThreadmillError(TaskException):
    """Base class of Threadmill's own errors."""


class InvalidTaskArguments(InvalidTask, TypeError):
    """The args or kwargs of an enqueue are not JSON; nothing was written to Redis."""


class BackendUnavailable(ThreadmillError):
    """Redis did not answer (down, unreachable, or too slow for `socket_timeout`)."""


class ReplicationTimeout(BackendUnavailable):
    """Fewer replicas than `replica_acks` confirmed a write within `replica_ack_timeout`.

    The write is on the primary: the task exists (enqueue), the result is stored
    (acknowledge), but a failover now could lose it. Retrying the call is safe (every
    Threadmill script is idempotent) and waits for the replicas again. `acknowledged` and
    `required` say how many replicas confirmed and how many were asked for."""

    def __init__(self, message: str, *, acknowledged: int = 0, required: int = 0) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.required = required


class RedisOutOfMemory(ThreadmillError):
    """Redis is at `maxmemory` with `noeviction`: the enqueue was refused as a whole."""


class CorruptTaskData(ThreadmillError):
    """A task record in Redis cannot be read (hand-edited, truncated, wrong type)."""


class AcknowledgementTimeout(ThreadmillError):
    """A started task was not acknowledged within `lease_ttl`."""


class WorkerLost(ThreadmillError):
    """The worker process running a task died (signal, exit, dead host)."""


class TaskNotFound(ThreadmillError):
    """The task's function cannot be imported (removed or renamed between deploys)."""


class ResultNotSerializable(ThreadmillError, TypeError):
    """A task returned a value that cannot be stored as JSON."""


class ResultTooLarge(ThreadmillError, ValueError):
    """A task returned more JSON than `max_result_size` allows."""


class TimeLimitExceeded(ThreadmillError):
    """A task ran longer than its `timeout` and was stopped (an async task is cancelled in
    its event loop; a sync task's worker process is replaced)."""


class Cancelled(ThreadmillError):
    """A task was cancelled (`backend.cancel()`, the admin or `threadmill_ctl cancel`)
    before it ran, or it stopped on a cancellation request (`raise_if_cancelled()`).
    Django has no CANCELLED status: a cancelled task is FAILED with this error."""


class Expired(ThreadmillError):
    """A task could not start within its `expires` after it became due; it never ran."""


class UnknownPool(ThreadmillError):
    """A control request named a pool that is not live (no heartbeat within heartbeat_ttl)."""
