"""`manage.py threadmill`: run the worker pool for one backend alias.

Validates the command line (clear `CommandError`s), reports the system checks without
letting a Redis warning stop the pool, configures logging when the project has not, and
hands over to the arbiter. Exit code 0 after a clean stop or drain.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management.base import BaseCommand, CommandError
from django.tasks import task_backends

from threadmill.backends.base import ThreadmillBackend
from threadmill.pool.arbiter import Arbiter, PoolSpec

logger = logging.getLogger("threadmill")


def _number(kind: type, minimum: float, above: bool, what: str) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` at least (or above) minimum."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (above and value == minimum):
            bound = "above" if above else "at least"
            raise argparse.ArgumentTypeError(f"must be {what} {bound} {minimum:g}, got {text!r}")
        return value

    return parse


positive_int = _number(int, 1, False, "a whole number of")
non_negative_int = _number(int, 0, False, "a whole number of")
positive_float = _number(float, 0, True, "a number of seconds")


def resolve_backend(alias: str) -> ThreadmillBackend:
    """The Threadmill backend of alias, or a CommandError saying what is valid."""
    configured = getattr(settings, "TASKS", {})
    if alias not in configured:
        raise CommandError(
            f"Unknown backend alias {alias!r}. TASKS defines: "
            f"{', '.join(sorted(configured)) or '(nothing)'}."
        )
    backend = task_backends[alias]
    if not isinstance(backend, ThreadmillBackend):
        raise CommandError(
            f"TASKS[{alias!r}] uses {configured[alias].get('BACKEND')}, which is not a "
            "Threadmill backend; use 'threadmill.backends.redis.RedisTaskBackend'."
        )
    return backend


class Command(BaseCommand):
    help = (
        "Run a Threadmill worker pool: a master process that forks worker processes, each "
        "running task threads. SIGTERM / Ctrl-C stops gracefully (a second one at once), "
        "SIGHUP replaces the workers, SIGTTIN / SIGTTOU add / remove a worker process."
    )
    requires_system_checks: list[str] = []  # reported below, never fatal for the pool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--backend", default="default", help="TASKS alias to serve (default: %(default)s)."
        )
        parser.add_argument(
            "--queues",
            nargs="+",
            metavar="QUEUE",
            help="Queues to take tasks from (default: every queue the backend declares in QUEUES).",
        )
        parser.add_argument(
            "--processes",
            type=positive_int,
            default=os.cpu_count() or 1,
            help="Worker processes (default: the number of CPUs, %(default)s here).",
        )
        parser.add_argument(
            "--threads",
            type=positive_int,
            default=1,
            help="Task threads per worker process (default: %(default)s).",
        )
        parser.add_argument(
            "--max-tasks",
            type=positive_int,
            default=None,
            help="Recycle a worker process after this many tasks (default: never).",
        )
        parser.add_argument(
            "--max-tasks-jitter",
            type=non_negative_int,
            default=0,
            help="Add a random 0..J to --max-tasks per worker, so workers do "
            "not all recycle at once (default: %(default)s).",
        )
        parser.add_argument(
            "--exit-empty",
            action="store_true",
            help="Process the queues (and deferred tasks already due) until "
            "they are empty, then exit 0.",
        )
        parser.add_argument(
            "--graceful-timeout",
            type=positive_float,
            default=30.0,
            help="Seconds workers get to finish their tasks after SIGTERM "
            "before they are killed (default: %(default)s).",
        )
        parser.add_argument(
            "--max-memory",
            type=positive_int,
            default=None,
            metavar="MB",
            help="Kill and replace a worker process whose memory (RSS) passes this many MiB; "
            "its running tasks are requeued or FAILED as for a crash (default: no limit).",
        )
        parser.add_argument(
            "--nice",
            type=non_negative_int,
            default=5,
            metavar="N",
            help="Worker processes lower their CPU priority by N, 0..19, as batch work does: "
            "Redis and web processes on the same host get a core first when they need one "
            "(default: %(default)s; 0 keeps the master's).",
        )
        parser.add_argument(
            "--log-level",
            default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="Level of the 'threadmill' logger when the project does not "
            "configure it (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        backend = resolve_backend(options["backend"])
        queues = options["queues"] or sorted(backend.queues)
        unknown = [q for q in queues if q not in backend.queues]
        if unknown:
            raise CommandError(
                f"Queue(s) {', '.join(map(repr, unknown))} not declared for backend "
                f"{options['backend']!r}; declared queues: {', '.join(sorted(backend.queues))}. "
                f"Add them to TASKS[{options['backend']!r}]['QUEUES']."
            )
        if options["max_tasks_jitter"] and not options["max_tasks"]:
            raise CommandError("--max-tasks-jitter needs --max-tasks.")
        if options["nice"] > 19:
            raise CommandError(
                f"--nice must be 0..19 (19 is the lowest priority), got {options['nice']}."
            )
        self._configure_logging(options["log_level"])
        for message in checks.run_checks(include_deployment_checks=False):
            level = logging.ERROR if message.is_serious() else logging.WARNING
            logger.log(level, "%s", message)
        spec = PoolSpec(
            alias=options["backend"],
            queues=tuple(dict.fromkeys(queues)),
            processes=options["processes"],
            threads=options["threads"],
            max_tasks=options["max_tasks"],
            max_tasks_jitter=options["max_tasks_jitter"],
            exit_empty=options["exit_empty"],
            graceful_timeout=options["graceful_timeout"],
            max_memory=options["max_memory"] * 2**20 if options["max_memory"] else None,
            nice=options["nice"],
        )
        code = Arbiter(spec, backend).run()
        if code:
            sys.exit(code)

    def _configure_logging(self, level: str) -> None:
        if logger.handlers or logging.getLogger().handlers:
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
