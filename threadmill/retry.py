"""Retry policies: when a failed attempt is tried again, and after how long.

A task's `retry` (or the alias's `retry` option) is one of:

* a `Backoff` (exponential backoff, capped, with optional jitter, for listed exceptions);
* any callable `retry(context, exception)` returning the delay before the next attempt (a
  `timedelta` or seconds) or `None` to give up; `context` is the attempt's `TaskContext`
  (`context.attempt` counts attempts so far, this one included);
* the dotted import path of such a callable (`"myapp.tasks.retry_policy"`).

The worker asks the policy after an attempt raised; the answer travels with the
acknowledgement, so a retry is stored in the same script call (no extra round trip).
`Cancelled` is never retried. A policy that raises is logged and treated as "give up".
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.tasks import TaskContext
from django.utils.module_loading import import_string

from .exceptions import Cancelled

logger = logging.getLogger("threadmill")

RetryCallable = Callable[[TaskContext, BaseException], "timedelta | float | None"]


def _seconds(value: timedelta | float, name: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"Backoff {name} must be a timedelta or a number of seconds, got {value!r}.")


@dataclass(frozen=True)
class Backoff:
    """Retry up to `max_attempts` attempts in all, waiting `base`, `base*factor`,
    `base*factor**2` ... (at most `max_delay`) between them, for exceptions listed in `on`
    (default: any `Exception`). With `jitter`, each delay is drawn uniformly between half
    and all of it, so tasks that failed together do not all come back together."""

    max_attempts: int = 3
    base: timedelta | float = timedelta(seconds=1)
    factor: float = 2.0
    max_delay: timedelta | float = timedelta(minutes=10)
    jitter: bool = True
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(
                f"Backoff max_attempts must be a whole number >= 1, got {self.max_attempts!r}."
            )
        if _seconds(self.base, "base") < 0 or _seconds(self.max_delay, "max_delay") < 0:
            raise ValueError(
                f"Backoff delays cannot be negative (base={self.base!r}, "
                f"max_delay={self.max_delay!r})."
            )
        if not isinstance(self.factor, (int, float)) or self.factor < 1:
            raise ValueError(f"Backoff factor must be a number >= 1, got {self.factor!r}.")
        on = self.on if isinstance(self.on, tuple) else (self.on,)
        if not on or not all(isinstance(c, type) and issubclass(c, BaseException) for c in on):
            raise TypeError(
                f"Backoff on= must be an exception class or a tuple of them, got {self.on!r}."
            )
        object.__setattr__(self, "on", on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), before jitter."""
        raw = _seconds(self.base, "base") * self.factor ** (attempt - 1)
        return min(raw, _seconds(self.max_delay, "max_delay"))

    def __call__(self, context: TaskContext, exception: BaseException) -> float | None:
        if not isinstance(exception, self.on) or context.attempt >= self.max_attempts:
            return None
        delay = self.delay(context.attempt)
        return random.uniform(delay / 2, delay) if self.jitter else delay


def resolve_retry(value: Any, where: str) -> RetryCallable | None:
    """The callable behind a `retry` value (None, a callable or a dotted path); raises
    TypeError / ImportError with a message naming `where` when it is not usable."""
    if value is None or value is False:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ImportError(f"{where}: retry={value!r} cannot be imported ({exc}).") from exc
    if not callable(value):
        raise TypeError(
            f"{where}: retry must be a Backoff, a callable (context, exception) -> delay or "
            f"None, or its dotted path; got {value!r}."
        )
    return value


def retry_delay(
    policy: RetryCallable | None, context: TaskContext, exception: BaseException
) -> float | None:
    """Seconds until the next attempt, or None to give up (no policy, `Cancelled`, the
    policy said so, or it raised)."""
    if policy is None or isinstance(exception, Cancelled):
        return None
    try:
        answer = policy(context, exception)
    except Exception:
        logger.exception("The retry policy of task %s raised; not retrying", context.task_result.id)
        return None
    if answer is None:
        return None
    seconds = answer.total_seconds() if isinstance(answer, timedelta) else float(answer)
    return max(seconds, 0.0)
