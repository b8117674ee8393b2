"""`threadmill_ctl` operations on queues and pools: `run-now ID...` (deferred or retrying
tasks to READY now), `pause QUEUE...` / `resume QUEUE...`, and `pool list|quiet|resume|stop|
add-worker|remove-worker [POOL_ID]` (requests the pool's master carries out within about a
second). Exit codes as in `base.py`: an unknown task, queue or pool is 1; Redis not
answering is 2."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.pool_records import POOL_ACTIONS
from threadmill.exceptions import ThreadmillError, UnknownPool

from .base import OK, REFUSED, UNUSABLE, Subcommand
from .by_ids import by_ids
from .history import record_operation


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

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        return by_ids(
            backend,
            "run-now",
            backend.run_now,
            RUN_NOW_MEANINGS,
            options,
            cmd,
            refusal=lambda state: f"{state}, not deferred: nothing to run early",
        )


class QueueSwitch(Subcommand):
    """pause / resume: the named queues of the backend; an unknown name is refused (a
    typo would otherwise pause nothing that exists)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("queues", nargs="+", metavar="QUEUE", help="Queue names.")

    verb: str  # Paused / Resumed, as the history says it

    def switch(self, backend: ThreadmillBackend, queue: str) -> tuple[bool, str]:
        """Pause or resume the queue: (whether that changed it, the line to print)."""
        raise NotImplementedError

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
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
                changed, line = self.switch(backend, queue)
                cmd.stdout.write(line)
                if changed:
                    label = f"queue {queue} (backend {backend.alias})"
                    done = f"{self.verb} queue {queue!r} (backend {backend.alias!r})"
                    code = max(code, record_operation(options, cmd, label, done))
        except ThreadmillError as exc:
            raise _unusable(self.name, exc) from exc
        return code


class Pause(QueueSwitch):
    name = "pause"
    help = (
        "Pause queues: pools take none of their tasks (running ones finish) until resumed; "
        "enqueues are still accepted. Kept in Redis: it outlives pool restarts."
    )

    verb = "Paused"

    def switch(self, backend: ThreadmillBackend, queue: str) -> tuple[bool, str]:
        if backend.pause_queue(queue):
            return True, f"{queue}  paused"
        return False, f"{queue}  paused (it was already)"


class Resume(QueueSwitch):
    name = "resume"
    help = "Resume paused queues: their tasks go to waiting threads at once."

    verb = "Resumed"

    def switch(self, backend: ThreadmillBackend, queue: str) -> tuple[bool, str]:
        was_paused, handed = backend.resume_queue(queue)
        if not was_paused:
            return False, f"{queue}  not paused (nothing to resume)"
        return True, f"{queue}  resumed ({handed} task(s) handed to waiting threads at once)"


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

    def changes(self, options: dict[str, Any]) -> bool:
        return options["action"] != "list"

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
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
        label = f"pool {pool_id} (backend {backend.alias})"
        done = f"Asked pool {pool_id!r} (backend {backend.alias!r}) to {action}"
        return record_operation(options, cmd, label, done)
