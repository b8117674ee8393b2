"""`manage.py threadmill_ctl`: operate on the tasks of a Threadmill backend from a shell.

One subcommand per operation, each a `Subcommand` listed in `SUBCOMMANDS`: it declares
its own arguments (every one also takes `--backend ALIAS`) and acts on that backend,
returning the exit code:

    manage.py threadmill_ctl cancel ID [ID ...] [--terminate] [--who TEXT] [--backend ALIAS]
    manage.py threadmill_ctl run-now ID [ID ...] [--backend ALIAS]
    manage.py threadmill_ctl pause QUEUE [QUEUE ...] [--backend ALIAS]
    manage.py threadmill_ctl resume QUEUE [QUEUE ...] [--backend ALIAS]
    manage.py threadmill_ctl pool list|quiet|resume|stop|add-worker|remove-worker [POOL_ID]

The task subcommands print one line per task id (`<id> <outcome> <what it means>`) on
stdout and a count on stderr. Exit codes: 0 when everything asked was done; 1 when some
task, queue or pool was missing or refused (already finished, not deferred, unknown);
2 when the command could not run (a malformed command line, an unknown or non-Threadmill
`--backend`, Redis not answering).
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
from threadmill.backends.records import POOL_ACTIONS
from threadmill.exceptions import ThreadmillError, UnknownPool
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


def _unusable(what: str, exc: ThreadmillError) -> CommandError:
    return CommandError(f"The {what} did not complete: {exc}", returncode=UNUSABLE)


#: What each outcome of `backend.run_now` means, as the command prints it.
RUN_NOW_MEANINGS = {
    "moved": ("moved", "READY now: the next free thread runs it"),
    "missing": ("missing", "no such task (purged, expired, or a mistyped id)"),
}


class RunNow(Subcommand):
    name = "run-now"
    help = (
        "Run deferred tasks now (waiting for their run_after or for a retry): each goes "
        "to READY at once, same id; a task in any other state is refused."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("ids", nargs="+", metavar="ID", help="Task ids to run now.")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: Command) -> int:
        ids = [i for i in dict.fromkeys(s.strip() for s in options["ids"]) if i]
        if not ids:
            raise CommandError("No task id given (the ids were empty).", returncode=UNUSABLE)
        try:
            outcomes = backend.run_now(ids)
        except ThreadmillError as exc:
            raise _unusable("run-now", exc) from exc
        words: Counter[str] = Counter()
        width = max(len(i) for i in ids)
        for task_id in ids:
            outcome = outcomes.get(task_id, "missing")
            word, meaning = RUN_NOW_MEANINGS.get(
                outcome, ("refused", f"{outcome}, not deferred: nothing to run early")
            )
            words[word] += 1
            cmd.stdout.write(f"{task_id:<{width}}  {word:<7}  {meaning}")
        summary = ", ".join(f"{words[w]} {w}" for w in ("moved", "refused", "missing") if words[w])
        cmd.stderr.write(summary + ".", style_func=str)
        return REFUSED if words["refused"] or words["missing"] else OK


class QueueSwitch(Subcommand):
    """pause / resume: the named queues of the backend; an unknown name is refused (a
    typo would otherwise pause nothing that exists)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("queues", nargs="+", metavar="QUEUE", help="Queue names.")

    def switch(self, backend: ThreadmillBackend, queue: str) -> str:
        raise NotImplementedError

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: Command) -> int:
        queues = list(dict.fromkeys(options["queues"]))
        try:
            known = backend.queue_names()
            code = OK
            for queue in queues:
                if queue not in known:
                    cmd.stderr.write(
                        f"Unknown queue {queue!r} on backend {backend.alias!r}: known queues "
                        f"are {', '.join(known) or '(none)'} (declared in QUEUES, or used)."
                    )
                    code = REFUSED
                    continue
                cmd.stdout.write(self.switch(backend, queue))
        except ThreadmillError as exc:
            raise _unusable(self.name, exc) from exc
        return code


class Pause(QueueSwitch):
    name = "pause"
    help = (
        "Pause queues: pools take none of their tasks (running ones finish) until resumed; "
        "enqueues are still accepted. Kept in Redis: it outlives pool restarts."
    )

    def switch(self, backend: ThreadmillBackend, queue: str) -> str:
        if backend.pause_queue(queue):
            return f"{queue}  paused"
        return f"{queue}  paused (it was already)"


class Resume(QueueSwitch):
    name = "resume"
    help = "Resume paused queues: their tasks go to waiting threads at once."

    def switch(self, backend: ThreadmillBackend, queue: str) -> str:
        was_paused, handed = backend.resume_queue(queue)
        if not was_paused:
            return f"{queue}  not paused (nothing to resume)"
        return f"{queue}  resumed ({handed} task(s) handed to waiting threads at once)"


class PoolControl(Subcommand):
    name = "pool"
    help = (
        "List the live pools, or ask one to go quiet (take no new tasks, finish what it "
        "holds), resume, stop gracefully, or add / remove a worker process. The pool acts "
        "within about a second (broker_interval)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["list", *POOL_ACTIONS], help="What to do.")
        parser.add_argument(
            "pool_id", nargs="?", metavar="POOL_ID", help="The pool's id (see `pool list`)."
        )

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: Command) -> int:
        action, pool_id = options["action"], options["pool_id"]
        try:
            if action == "list":
                if not backend.pools():
                    cmd.stderr.write("No live pools on this backend.", style_func=str)
                for status in backend.pools():
                    r = status.report
                    state = (
                        "stale"
                        if status.stale
                        else "stopping"
                        if r.stopping
                        else "quiet"
                        if r.quiet
                        else "running"
                    )
                    cmd.stdout.write(
                        f"{status.pool_id}  {state:<8}  {r.processes}x{r.threads}  "
                        f"queues {','.join(r.queues)}"
                    )
                return OK
            if not pool_id:
                raise CommandError(
                    f"`pool {action}` needs a POOL_ID (see `threadmill_ctl pool list`).",
                    returncode=UNUSABLE,
                )
            backend.request_pool(pool_id, action)
        except UnknownPool as exc:
            cmd.stderr.write(str(exc))
            return REFUSED
        except ThreadmillError as exc:
            raise _unusable(f"pool {action}", exc) from exc
        cmd.stdout.write(f"{pool_id}  {action} requested (the pool acts within about a second)")
        return OK


SUBCOMMANDS: list[Subcommand] = [Cancel(), RunNow(), Pause(), Resume(), PoolControl()]


class Command(BaseCommand):
    help = (
        "Operate on the tasks, queues and pools of a Threadmill backend: `cancel ID...`, "
        "`run-now ID...`, `pause QUEUE...`, `resume QUEUE...`, `pool ACTION [POOL_ID]` (see "
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
