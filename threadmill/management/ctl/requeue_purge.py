"""`threadmill_ctl requeue` and `purge`: by task ids (one line per id), or every task
matching filters as a bulk job (`bulk.py`); `--dry-run` changes nothing, and purge asks for
confirmation unless `--yes`."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from threadmill.backends.base import ThreadmillBackend

from . import bulk
from .base import Subcommand, default_who
from .by_ids import by_ids
from .cancel import check_mode


class Requeue(Subcommand):
    name = "requeue"
    help = (
        "Requeue finished tasks, by id or every one matching filters (a bulk job): they go "
        "back to READY keeping their id and history."
    )
    MEANINGS = {
        "requeued": ("requeued", "back to READY: it will run again"),
        "missing": ("missing", "no such task (purged, expired, or a mistyped id)"),
    }

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID", help="Task ids to requeue.")
        bulk.add_filter_arguments(parser, "requeue")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        if check_mode(options):
            return bulk.run_bulk(backend, "requeue", options, cmd, default_who())
        return by_ids(backend, "requeue", backend.requeue, self.MEANINGS, options, cmd)


class Purge(Subcommand):
    name = "purge"
    help = (
        "Remove tasks from Redis entirely (not running ones), by id or every one matching "
        "filters (a bulk job). This cannot be undone."
    )
    MEANINGS = {
        "purged": ("purged", "removed from Redis"),
        "missing": ("missing", "no such task (purged, expired, or a mistyped id)"),
    }

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID", help="Task ids to purge.")
        bulk.add_filter_arguments(parser, "purge")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        if check_mode(options):
            return bulk.run_bulk(backend, "purge", options, cmd, default_who())
        return by_ids(backend, "purge", backend.purge, self.MEANINGS, options, cmd)
