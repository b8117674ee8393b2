"""`manage.py threadmill_top`: the command line of the terminal dashboard, nothing else.

Chooses the output: the live screen on a terminal (`threadmill.top.live`), one frame of
text (`--once`; plain, without escape codes, when stdout is not a terminal) or one snapshot
as JSON (`--json`). Exit code 0; 1 when `--once` / `--json` could not read Redis.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from rich.console import Console

from threadmill.management.commands.threadmill import positive_float, resolve_backend
from threadmill.top.live import run_live
from threadmill.top.render import render_screen
from threadmill.top.snapshot import Sampler

#: Width of a `--once` frame written to a file or a pipe (COLUMNS overrides it).
PLAIN_WIDTH = 120


class Command(BaseCommand):
    help = (
        "Live terminal dashboard of a Threadmill backend: queues, worker pools (master, "
        "processes, threads, running tasks), recent failures, throughput; t: per-task runs, "
        "failure rates and run times. Press q to quit."
    )
    requires_system_checks: list[str] = []  # it must start (and say so) when Redis is down

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--backend", default="default", help="TASKS alias to show (default: %(default)s)."
        )
        parser.add_argument(
            "--interval",
            type=positive_float,
            default=1.0,
            help="Seconds between refreshes of the live screen (default: %(default)s).",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="Print one frame and exit (plain text when stdout is not a terminal). It "
            "samples twice, --interval apart, to show rates.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one snapshot as JSON and exit (for monitoring scripts), with the "
            "per-task run metrics (`tasks`); sampled twice, --interval apart, to show rates.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        backend = resolve_backend(options["backend"])
        sampler = Sampler(backend)
        sampler.with_tasks = bool(options["json"])
        out = self.stdout
        if options["json"] or options["once"]:
            # Rates are counter differences: a second sample, one interval later, gives them.
            snapshot = sampler.sample()
            if snapshot.reachable:
                time.sleep(options["interval"])
                snapshot = sampler.sample()
        if options["json"]:
            out.write(json.dumps(snapshot.to_dict(), indent=2))
            if not snapshot.reachable:
                sys.exit(1)
            return
        is_tty = out.isatty()
        if options["once"]:
            width = None if is_tty else _plain_width()
            stream = cast(IO[str], _StreamOf(out))  # the part of a text stream rich uses
            console = Console(file=stream, force_terminal=is_tty, width=width, highlight=False)
            console.print(
                render_screen(snapshot, console.width, ascii_only=console.options.ascii_only)
            )
            if not snapshot.reachable:
                sys.exit(1)
            return
        if not is_tty or not sys.stdout.isatty():
            raise CommandError(
                "stdout is not a terminal, so there is no screen to draw on: use --once for "
                "one frame of plain text, or --json for a snapshot as JSON."
            )
        run_live(sampler, interval=options["interval"], console=Console(highlight=False))


def _plain_width() -> int:
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return PLAIN_WIDTH


class _StreamOf:
    """Django's OutputWrapper adds a newline to every write; rich writes pieces."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()
