"""`threadmill_ctl cancel`: cancel tasks by id (`by_ids.py`: one line per id, its outcome and
what it means, on stdout and a count on stderr; asks first unless `--yes`), or every task
matching filters as a bulk job (`bulk.py`). Exit 0 when every task was cancelled or asked to
stop, 1 when some was missing or refused (already finished), 2 when Redis did not answer or
the command line is wrong."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threadmill.backends.base import ThreadmillBackend

from . import bulk
from .base import UNUSABLE, Subcommand, default_who
from .by_ids import by_ids

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
        who = options["who"] or default_who()
        terminate = options["terminate"]
        meanings = dict(CANCEL_MEANINGS)
        if terminate:
            meanings["requested"] = meanings["terminate"]
        del meanings["terminate"]
        return by_ids(
            backend,
            "terminate" if terminate else "cancel",
            lambda ids: backend.cancel(ids, who=who, terminate=terminate),
            meanings,
            options,
            cmd,
        )


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
