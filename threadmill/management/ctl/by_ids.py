"""What `threadmill_ctl requeue|purge|cancel ID...` do: act on the given task ids at once,
one line per id (`<id>  <outcome>  <what it means>`) on stdout and a count on stderr, then
record the admin history's entries when a user is named (`history.py`).

`purge` and `cancel` change what cannot be taken back, so they ask first (`[y/N]` on a
terminal; without one they refuse, exit 2, unless `--yes`). `--dry-run` prints the same
lines for what each id would get, read from each task's state, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.records import TaskState
from threadmill.exceptions import ThreadmillError

from .base import OK, REFUSED, UNUSABLE
from .bulk import confirm
from .history import record_tasks

#: The actions that ask for confirmation (what they do cannot be undone).
DESTRUCTIVE = ("purge", "cancel", "terminate")
QUEUED = (TaskState.READY, TaskState.DEFERRED)
FINISHED = (TaskState.SUCCESSFUL, TaskState.FAILED)


def predicted(action: str, state: TaskState | None) -> str:
    """The outcome the action would give a task in `state` (None: no such task), as the
    backend's own outcome words: the dry run's answer."""
    if state is None:
        return "missing"
    if action == "requeue":
        return "requeued" if state in FINISHED else state.value
    if action == "purge":
        return "purged" if state != TaskState.RUNNING else state.value
    if state in QUEUED:  # cancel, terminate
        return "cancelled"
    return "requested" if state == TaskState.RUNNING else state.value


def _refusal(state: str) -> str:
    return f"already {state}" if state in FINISHED else f"it is {state}"


def parse_ids(options: dict[str, Any]) -> list[str]:
    """The ids given, each once, in order; CommandError (exit 2) when none is left."""
    ids = [i for i in dict.fromkeys(s.strip() for s in options["ids"]) if i]
    if not ids:
        raise CommandError("No task id given (the ids were empty).", returncode=UNUSABLE)
    return ids


def by_ids(
    backend: ThreadmillBackend,
    action: str,
    act: Callable[[list[str]], dict[str, str]],
    meanings: dict[str, tuple[str, str]],
    options: dict[str, Any],
    cmd: BaseCommand,
    refusal: Callable[[str], str] | None = None,
) -> int:
    """Act on the ids (see the module docstring); `meanings`: outcome -> (word, meaning);
    `refusal`: what a refusing state means (default: "already FAILED", "it is RUNNING")."""
    ids = parse_ids(options)
    try:
        if options.get("dry_run"):
            states = {i: (t.state if (t := backend.get_task(i)) else None) for i in ids}
            outcomes = {i: predicted(action, states[i]) for i in ids}
        else:
            if action in DESTRUCTIVE and not options.get("yes"):
                verb = "Terminate" if action == "terminate" else action.capitalize()
                if not confirm(f"{verb} {len(ids)} task(s)?", cmd):
                    cmd.stderr.write("Nothing done.", style_func=str)
                    return REFUSED
            outcomes = act(ids)
    except ThreadmillError as exc:
        raise CommandError(
            f"The {action} did not complete: {exc} Tasks handled before the error stay so; "
            "run it again for the others.",
            returncode=UNUSABLE,
        ) from exc
    width = max(len(i) for i in ids)
    counts: dict[str, int] = {}
    for task_id in ids:
        outcome = outcomes.get(task_id, "missing")
        word, meaning = meanings.get(outcome) or ("refused", (refusal or _refusal)(outcome))
        counts[word] = counts.get(word, 0) + 1
        cmd.stdout.write(f"{task_id:<{width}}  {word:<9}  {meaning}")
    order = [*(w for w, _ in meanings.values() if w != "missing"), "refused", "missing"]
    summary = ", ".join(f"{counts[w]} {w}" for w in dict.fromkeys(order) if counts.get(w))
    if options.get("dry_run"):
        cmd.stderr.write(f"Dry run, nothing changed: {summary}.", style_func=str)
        return OK
    cmd.stderr.write(summary + ".", style_func=str)  # a count, not an error: unstyled
    code = REFUSED if counts.get("refused") or counts.get("missing") else OK
    return max(code, record_tasks(options, cmd, action, backend.alias, outcomes))
