"""`manage.py threadmill_ctl`: operate on a Threadmill backend from a shell.

One subcommand per operation, each a `Subcommand` of `threadmill/management/ctl/` listed
in its `SUBCOMMANDS`: it declares its own arguments (every one also takes `--backend
ALIAS`) and acts on that backend, returning the exit code:

    manage.py threadmill_ctl cancel ID [ID ...] [--terminate] [--who TEXT]
    manage.py threadmill_ctl requeue|purge ID [ID ...]
    manage.py threadmill_ctl requeue|purge|cancel --queue Q --state S [--task T] [--error E]
        [--worker W] [--since T] [--until T] [--args-contains A] [--dry-run] [--yes]
        [--background]
    manage.py threadmill_ctl schedules [--json]
    manage.py threadmill_ctl pause-schedule NAME [NAME ...]
    manage.py threadmill_ctl resume-schedule NAME [NAME ...]
    manage.py threadmill_ctl run-schedule NAME [NAME ...]
    manage.py threadmill_ctl run-now ID [ID ...]
    manage.py threadmill_ctl pause QUEUE [QUEUE ...]
    manage.py threadmill_ctl resume QUEUE [QUEUE ...]
    manage.py threadmill_ctl pool list|quiet|resume|stop|add-worker|remove-worker [POOL_ID]
    manage.py threadmill_ctl stats [--json | --prometheus] [--span SECONDS]

Every subcommand takes `--backend ALIAS` and `--user NAME` (default `$THREADMILL_CTL_USER`):
the Django user in whose name what it changes is recorded in the admin's history
(`ctl/history.py`); without one, nothing is recorded.

Exit codes: 0 when everything asked was done; 1 when something was missing or refused (a
finished task, a task not deferred, an unknown queue, pool or schedule name, a schedule whose
entry has a problem, a declined confirmation); 2 when the command could not run (a
malformed command line, an unknown or non-Threadmill `--backend`, Redis not answering).
This module only parses and dispatches.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from threadmill.management.commands.threadmill import resolve_backend
from threadmill.management.ctl import OK, REFUSED, SUBCOMMANDS, UNUSABLE, Subcommand
from threadmill.management.ctl.history import USER_VARIABLE, resolve_actor

__all__ = ["OK", "REFUSED", "SUBCOMMANDS", "UNUSABLE", "Command", "Subcommand"]


class Command(BaseCommand):
    help = (
        "Operate on a Threadmill backend from a shell: `cancel`, `requeue`, `purge` (by ids "
        "or filters), `run-now ID...`, "
        "`pause QUEUE...`, `resume QUEUE...`, `pool ACTION [POOL_ID]`, `schedules`, "
        "`pause-schedule NAME...`, `resume-schedule NAME...`, `run-schedule NAME...` (see "
        "each subcommand's --help). Exit code 0 when everything was done, 1 when something "
        "was missing or refused, 2 when the command could not run."
    )
    requires_system_checks: list[str] = []  # it must say itself why Redis does not answer

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", required=True, metavar="SUBCOMMAND", title="subcommands"
        )
        for sub in SUBCOMMANDS:
            sub_parser = subparsers.add_parser(sub.name, help=sub.help, description=sub.help)
            sub_parser.add_argument(
                "--backend", default="default", help="TASKS alias to act on (default: %(default)s)."
            )
            sub_parser.add_argument(
                "--user",
                default=None,
                help="The Django user who acts: what the command changes is recorded in the "
                f"admin's history in their name (default: ${USER_VARIABLE}; unset: not "
                "recorded).",
            )
            sub.add_arguments(sub_parser)

    def handle(self, *args: Any, **options: Any) -> None:
        sub = next(s for s in SUBCOMMANDS if s.name == options["subcommand"])
        try:
            backend = resolve_backend(options["backend"])
        except CommandError as exc:
            raise CommandError(str(exc), returncode=UNUSABLE) from exc
        options["actor"] = resolve_actor(options["user"]) if sub.changes(options) else None
        code = sub.run(backend, options, self)
        if code:
            sys.exit(code)
