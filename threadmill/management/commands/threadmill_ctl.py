"""`manage.py threadmill_ctl`: operate on the tasks of a Threadmill backend from a shell.

One subcommand per operation, each a `Subcommand` listed in `SUBCOMMANDS`: it declares
its own arguments (every one also takes `--backend ALIAS`) and acts on that backend,
returning the exit code:

    manage.py threadmill_ctl cancel ID [ID ...] [--terminate] [--who TEXT] [--backend ALIAS]
    manage.py threadmill_ctl stats [--json | --prometheus] [--span SECONDS] [--backend ALIAS]

It prints one line per task id (`<id> <outcome> <what it means>`) on stdout and a count
on stderr. Exit codes: 0 when every task was cancelled or asked to stop; 1 when some
task was missing or refused (already finished); 2 when the command could not run (a
malformed command line, an unknown or non-Threadmill `--backend`, Redis not answering).
"""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from collections import Counter
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from threadmill.backends.base import ThreadmillBackend
from threadmill.exceptions import ThreadmillError
from threadmill.management.commands.threadmill import resolve_backend

#: Exit codes (see the module docstring).
OK, REFUSED, UNUSABLE = 0, 1, 2


def default_who() -> str:
    """Who cancels, when `--who` is not given: `ctl:<login>@<host>`."""
    try:
        login = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        login = "?"
    return f"ctl:{login}@{socket.gethostname()}"


class Subcommand:
    """One operation of `threadmill_ctl`: its arguments, and what it does to a backend."""

    name: ClassVar[str]
    help: ClassVar[str]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The subcommand's own arguments (`--backend` is added for every one)."""

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: Command) -> int:
        """Do it; write to `cmd.stdout` / `cmd.stderr`; return the exit code."""
        raise NotImplementedError


#: What each outcome of `backend.cancel` means, as the command prints it.
CANCEL_MEANINGS = {
    "cancelled": ("cancelled", "FAILED with Cancelled: removed from its queue, it will not run"),
    "requested": ("requested", "running: its worker was asked to stop it"),
    "terminate": ("requested", "running: its worker was told to stop it now"),
    "missing": ("missing", "no such task (purged, expired, or a mistyped id)"),
}


class Cancel(Subcommand):
    name = "cancel"
    help = (
        "Cancel tasks by id: a ready or deferred task ends FAILED with Cancelled at once; a "
        "running one is asked to stop (with --terminate: stopped now); a finished one is "
        "refused."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("ids", nargs="+", metavar="ID", help="Task ids to cancel.")
        parser.add_argument(
            "--terminate",
            action="store_true",
            help="Stop running tasks now instead of asking them to stop (an async task is "
            "cancelled in its event loop, a sync task's worker process is replaced and its "
            "other tasks requeued without being charged an attempt).",
        )
        parser.add_argument(
            "--who",
            default=None,
            help="Who cancels, recorded in each task's error and request (default: "
            "ctl:<login>@<host>).",
        )

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: Command) -> int:
        ids = [i for i in dict.fromkeys(s.strip() for s in options["ids"]) if i]
        if not ids:
            raise CommandError("No task id given (the ids were empty).", returncode=UNUSABLE)
        who = options["who"] or default_who()
        try:
            outcomes = backend.cancel(ids, who=who, terminate=options["terminate"])
        except ThreadmillError as exc:
            raise CommandError(
                f"The cancel did not complete: {exc} Tasks cancelled before the error stay "
                "cancelled; run it again for the others.",
                returncode=UNUSABLE,
            ) from exc
        words: Counter[str] = Counter()
        width = max(len(i) for i in ids)
        for task_id in ids:
            outcome = outcomes.get(task_id, "missing")
            key = "terminate" if outcome == "requested" and options["terminate"] else outcome
            word, meaning = CANCEL_MEANINGS.get(key, ("refused", f"already {outcome}"))
            words[word] += 1
            cmd.stdout.write(f"{task_id:<{width}}  {word:<9}  {meaning}")
        order = ("cancelled", "requested", "refused", "missing")
        summary = ", ".join(f"{words[w]} {w}" for w in order if words[w]) + "."
        cmd.stderr.write(summary, style_func=str)  # a count, not an error: unstyled
        return REFUSED if words["refused"] or words["missing"] else OK


# Below the classes it needs (it imports Subcommand from here).
from threadmill.management.ctl_stats import Stats  # noqa: E402

SUBCOMMANDS: list[Subcommand] = [Cancel(), Stats()]


class Command(BaseCommand):
    help = (
        "Operate on the tasks of a Threadmill backend: `cancel ID...` (see each "
        "subcommand's --help). Exit code 0 when every task was handled, 1 when some were "
        "missing or refused, 2 when the command could not run."
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
            sub.add_arguments(sub_parser)

    def handle(self, *args: Any, **options: Any) -> None:
        sub = next(s for s in SUBCOMMANDS if s.name == options["subcommand"])
        try:
            backend = resolve_backend(options["backend"])
        except CommandError as exc:
            raise CommandError(str(exc), returncode=UNUSABLE) from exc
        code = sub.run(backend, options, self)
        if code:
            sys.exit(code)
