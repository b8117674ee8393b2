"""`threadmill_ctl cancel`: cancel tasks by id, one line per id (its outcome and what it
means) on stdout and a count on stderr, or every task matching filters as a bulk job
(`bulk.py`). Exit 0 when every task was cancelled or asked to stop, 1 when some was missing
or refused (already finished), 2 when Redis did not answer or the command line is wrong."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threadmill.backends.base import ThreadmillBackend
from threadmill.exceptions import ThreadmillError

from . import bulk
from .base import OK, REFUSED, UNUSABLE, Subcommand, default_who
from .history import record_tasks

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
        parser.add_argument("ids", nargs="*", metavar="ID", help="Task ids to cancel.")
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
        bulk.add_filter_arguments(parser, "cancel")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        if check_mode(options):
            if options["terminate"]:
                raise CommandError(
                    "--terminate works on ids only (a bulk cancel takes queued tasks).",
                    returncode=UNUSABLE,
                )
            who = options["who"] or default_who()
            return bulk.run_bulk(backend, "cancel", options, cmd, who)
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
        code = REFUSED if words["refused"] or words["missing"] else OK
        action = "terminate" if options["terminate"] else "cancel"
        return max(code, record_tasks(options, cmd, action, backend.alias, outcomes))


def check_mode(options: dict[str, Any]) -> bool:
    """True for a command by filter, False by ids; CommandError for both or neither."""
    by_filter = bulk.uses_filter(options)
    if by_filter and options["ids"]:
        raise CommandError("Give task ids or filters, not both.", returncode=UNUSABLE)
    if not by_filter and not options["ids"]:
        raise CommandError(
            "Give task ids, or filters (--queue, --state, --error ...; see --help).",
            returncode=UNUSABLE,
        )
    return by_filter
