"""Backend options: one dataclass that owns their defaults, types, docs and validation.

`BackendOptions.from_settings()` turns a `TASKS[alias]["OPTIONS"]` dict into a validated,
frozen object; `OPTION_DOCS` drives the options table in the docs (a test keeps
`docs/backend.md` and this module in agreement).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured

_DURATION = "duration"  # a timedelta or a number of seconds
_INT = "int"
_STR = "str"
_OPT_INT = "optional int"
_OPT_DURATION = "optional duration"
_BOOL = "bool"
_RETRY = "retry"  # a Backoff, a callable, or its dotted path (threadmill.retry)
_SCHEDULES = "schedules"  # checked by threadmill.schedules.parse (manage.py check)


#: Longest metrics_window (7 days): per-minute metrics cost memory per minute kept.
MAX_METRICS_WINDOW = 7 * 86400.0


@dataclasses.dataclass(frozen=True)
class _Spec:
    kind: str
    minimum: float
    doc: str


@dataclasses.dataclass(frozen=True)
class BackendOptions:
    """Validated options of one Threadmill backend alias (durations in seconds)."""

    lease_ttl: float = 3600.0
    result_ttl: float = 86400.0
    broker_interval: float = 1.0
    batch_size: int = 100
    max_attempts: int = 3
    heartbeat_interval: float = 2.0
    heartbeat_ttl: float = 10.0
    block_timeout: float = 30.0
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 5.0
    retry_attempts: int = 3
    admin_timeout: float = 1.0
    replica_acks: int = 0
    replica_ack_timeout: float = 1.0
    max_connections: int | None = None
    max_result_size: int = 1_048_576
    reply_spin: float = 0.0001
    key_prefix: str = "threadmill"
    retry: Any = None
    timeout: float | None = None
    enqueue_on_commit: bool = False
    metrics_window: float = 86400.0
    # A dict (unhashable): left out of the options' hash, which keys the connection cache.
    schedules: Any = dataclasses.field(default=None, hash=False, compare=False)

    @classmethod
    def from_settings(cls, alias: str, raw: dict[str, Any] | None) -> BackendOptions:
        """Validate `OPTIONS` of alias; raise ImproperlyConfigured naming the bad option."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(OPTION_SPECS))
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown option(s) {', '.join(unknown)}; "
                f"valid options are: {', '.join(OPTION_SPECS)}."
            )
        values = {name: _coerce(alias, name, OPTION_SPECS[name], v) for name, v in raw.items()}
        options = cls(**values)
        if options.heartbeat_ttl <= options.heartbeat_interval:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS']: heartbeat_ttl ({options.heartbeat_ttl:g}s) must "
                f"be longer than heartbeat_interval ({options.heartbeat_interval:g}s), "
                "or every pool looks dead between two heartbeats."
            )
        if options.timeout is not None and options.timeout > options.lease_ttl:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS']: timeout ({options.timeout:g}s) must not be "
                f"longer than lease_ttl ({options.lease_ttl:g}s), the ceiling of every attempt."
            )
        if options.metrics_window and options.metrics_window < 60:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS']['metrics_window'] must be 0 (no run metrics) or "
                f"at least 60s (metrics are kept per minute), got {options.metrics_window:g}s."
            )
        if options.metrics_window > MAX_METRICS_WINDOW:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS']['metrics_window'] must be at most 7 days "
                f"(each minute of it costs memory per task path, see docs/metrics.md), got "
                f"{options.metrics_window:g}s."
            )
        return options

    def retry_policy(self) -> Any:
        """The alias's default retry policy as a callable (None: no retries)."""
        from .retry import resolve_retry

        return resolve_retry(self.retry, "OPTIONS['retry']")

    def ms(self, name: str) -> int:
        """A duration option in whole milliseconds, as the Lua scripts take it."""
        return round(getattr(self, name) * 1000)


OPTION_SPECS: dict[str, _Spec] = {
    "lease_ttl": _Spec(
        _DURATION,
        0.001,
        "Longest a started task may run before it is marked FAILED with "
        "`AcknowledgementTimeout`; its late acknowledgement is then ignored.",
    ),
    "result_ttl": _Spec(
        _DURATION,
        0.001,
        "How long SUCCESSFUL and FAILED tasks (record and result) are kept; Redis removes them "
        "afterwards.",
    ),
    "broker_interval": _Spec(
        _DURATION,
        0.01,
        "How often the pool's broker promotes due deferred tasks (they start at most this "
        "late). Dead pools are resolved every `heartbeat_interval`, expired leases and "
        "results every five.",
    ),
    "batch_size": _Spec(
        _INT,
        1,
        "Most tasks one maintenance step or one bulk admin action touches per Redis call.",
    ),
    "max_attempts": _Spec(
        _INT,
        1,
        "Attempts a task gets when its worker is lost (crash, kill, dead host) before it is "
        "FAILED with `WorkerLost`.",
    ),
    "heartbeat_interval": _Spec(
        _DURATION, 0.05, "How often a pool publishes that its workers are alive."
    ),
    "heartbeat_ttl": _Spec(
        _DURATION,
        0.1,
        "A pool silent for this long is dead: another pool requeues its running tasks.",
    ),
    "block_timeout": _Spec(
        _DURATION,
        0.1,
        "Longest an idle worker thread blocks on Redis before it looks for work again (an "
        "enqueue wakes it at once; this only bounds the delay after a lost wake-up).",
    ),
    "socket_timeout": _Spec(
        _DURATION,
        0.05,
        "Longest a Redis command may wait for its reply (blocking waits get this on top).",
    ),
    "socket_connect_timeout": _Spec(
        _DURATION, 0.05, "Longest a connection attempt to Redis may take."
    ),
    "retry_attempts": _Spec(
        _INT,
        0,
        "Retries (with capped exponential backoff) of a Redis call that failed on a "
        "connection error or timeout; safe because every Threadmill script is idempotent.",
    ),
    "admin_timeout": _Spec(
        _DURATION,
        0.05,
        "Longest a read of the admin pages or `threadmill_top` waits for Redis (connect or "
        'reply), without retries: with Redis down or frozen a page shows its "unavailable" '
        "banner after about this long. Workers and `enqueue()` keep `socket_timeout` and "
        "`retry_attempts`.",
    ),
    "replica_acks": _Spec(
        _INT,
        0,
        "Replicas that must have each enqueue, lease and acknowledgement before the call "
        "returns (Redis `WAIT`, see docs/scaling.md); 0: do not wait, so a failover may lose "
        "the last writes.",
    ),
    "replica_ack_timeout": _Spec(
        _DURATION,
        0.001,
        "Longest a call waits for `replica_acks` replicas; then it raises "
        "`ReplicationTimeout` (the write is on the primary; a retry is safe).",
    ),
    "max_connections": _Spec(
        _OPT_INT, 1, "Size limit of each process's Redis connection pool (None: unbounded)."
    ),
    "max_result_size": _Spec(
        _INT,
        1,
        "Largest return value, in bytes of JSON, that is stored; a larger one makes the task "
        "FAILED with `ResultTooLarge`.",
    ),
    "reply_spin": _Spec(
        _DURATION,
        0,
        "Longest an enqueue, or a worker's acknowledge-and-lease call, busy-waits for Redis's "
        "reply before its thread sleeps (0: never). On a virtual machine waking a sleeping "
        "thread takes about as long as a round trip to a local Redis; the spin saves it "
        "(docs/performance.md). A thread whose replies come later stops spinning for a while; "
        "a pool's workers spin only when it has fewer processes than usable cores; no spin "
        "with `replica_acks`.",
    ),
    "key_prefix": _Spec(
        _STR,
        1,
        "Prefix of every Redis key; keys are `<prefix>:{<alias>}:...`, so an alias's keys "
        "share one Redis Cluster slot.",
    ),
    "retry": _Spec(
        _RETRY,
        0,
        "Default retry policy of the alias's tasks (a task's own `retry=` wins): a "
        "`threadmill.Backoff`, a callable `(context, exception) -> delay or None`, or its "
        "dotted path. None: a task that raises is FAILED at once.",
    ),
    "timeout": _Spec(
        _OPT_DURATION,
        0.001,
        "Default time limit of one attempt (a task's own `timeout=` wins); over it the task "
        "is stopped and FAILED with `TimeLimitExceeded` (or retried). None: only `lease_ttl`.",
    ),
    "enqueue_on_commit": _Spec(
        _BOOL,
        0,
        "Inside `transaction.atomic()`, hold each `enqueue()` until the transaction commits "
        "(dropped on rollback), so a worker never runs before the rows it needs exist.",
    ),
    "metrics_window": _Spec(
        _DURATION,
        0,
        "How long per-minute run metrics (runs, failures, retries and run times per queue and "
        "task path; docs/metrics.md) are kept, at most 7 days; 0: none are written.",
    ),
    "schedules": _Spec(
        _SCHEDULES,
        0,
        "Periodic tasks: name -> entry (`task`, `cron` or `every`, `timezone`, `args`, "
        "`kwargs`, `queue_name`, `priority`, `catch_up`, `overlap`); the pools enqueue each "
        "slot once (docs/schedules.md). A bad entry is a `manage.py check` error.",
    ),
}

OPTION_DOCS: dict[str, tuple[str, str]] = {}
for _field in dataclasses.fields(BackendOptions):
    _spec = OPTION_SPECS[_field.name]
    _default = _field.default
    if _default is None:
        _shown = "`None`"
    elif _spec.kind == _DURATION:
        _shown = f"`timedelta(seconds={_default:g})`"
    else:
        _shown = f"`{_default!r}`"
    OPTION_DOCS[_field.name] = (_shown, _spec.doc)


def _coerce(alias: str, name: str, spec: _Spec, value: Any) -> Any:
    where = f"TASKS[{alias!r}]['OPTIONS'][{name!r}]"
    if spec.kind == _OPT_DURATION:
        if value is None:
            return None
        spec = _Spec(_DURATION, spec.minimum, spec.doc)
    if spec.kind == _BOOL:
        if not isinstance(value, bool):
            raise ImproperlyConfigured(f"{where} must be True or False, got {value!r}.")
        return value
    if spec.kind == _SCHEDULES:
        return value  # validated entry by entry by manage.py check (threadmill.E020-E023)
    if spec.kind == _RETRY:
        # A dotted path is imported on first use and by `manage.py check` (threadmill.E010),
        # not here: its module may well import the tasks that this backend is building.
        if value is None or isinstance(value, str) or callable(value):
            return value
        raise ImproperlyConfigured(
            f"{where} must be a threadmill.Backoff, a callable (context, exception) -> delay "
            f"or None, or its dotted path; got {value!r}."
        )
    if spec.kind == _DURATION:
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            raise ImproperlyConfigured(
                f"{where} must be a timedelta or a number of seconds, got {value!r}."
            )
        if seconds < spec.minimum:
            raise ImproperlyConfigured(
                f"{where} must be at least {spec.minimum:g}s, got {value!r}."
            )
        return seconds
    if spec.kind == _STR:
        if not isinstance(value, str) or not value or any(c in value for c in "{} \n"):
            raise ImproperlyConfigured(
                f"{where} must be a non-empty string without braces or spaces, got {value!r}."
            )
        return value
    if spec.kind == _OPT_INT and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ImproperlyConfigured(f"{where} must be a whole number, got {value!r}.")
    if value < spec.minimum:
        raise ImproperlyConfigured(f"{where} must be at least {spec.minimum:g}, got {value!r}.")
    return value


def options_table() -> str:
    """The Markdown table of every option, as README.md and docs/backend.md show it."""
    rows = ["| Option | Default | What it does |", "| --- | --- | --- |"]
    rows += [f"| `{name}` | {default} | {doc} |" for name, (default, doc) in OPTION_DOCS.items()]
    return "\n".join(rows)


if __name__ == "__main__":  # `python -m threadmill.options` prints the table for the docs
    print(options_table())
