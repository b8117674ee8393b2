"""What every `threadmill_ctl` subcommand shares: the `Subcommand` interface, the exit
codes, and who an operation is recorded as."""

from __future__ import annotations

import argparse
import getpass
import socket
from typing import Any, ClassVar

from django.core.management.base import BaseCommand

from threadmill.backends.base import ThreadmillBackend

#: Exit codes: 0 everything done; 1 something refused or unknown (the others done, or
#: nothing done, as each subcommand says); 2 the command could not run.
OK, REFUSED, UNUSABLE = 0, 1, 2


def default_who() -> str:
    """Who acts, when `--who` is not given: `ctl:<login>@<host>`."""
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

    def changes(self, options: dict[str, Any]) -> bool:
        """Whether this command line changes anything (and so records it in the history:
        only then is --user looked up). False for reads and dry runs."""
        return not options.get("dry_run")

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        """Do it; write to `cmd.stdout` / `cmd.stderr`; return the exit code."""
        raise NotImplementedError
