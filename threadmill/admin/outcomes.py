"""What an admin action will do to each task, and what it did, in words.

`predict` guesses a task's outcome from its record as the confirmation page reads it (the
backend decides again, atomically, when the action runs); `outcome_messages` turns the
outcomes an action reports (or the predicted ones) into counted admin messages:
"Requeued 2 tasks ...", "Refused 1 task because RUNNING ...".
"""

from __future__ import annotations

from collections import Counter

from django.contrib import messages

from threadmill.backends.records import TaskRecord, TaskState

#: The actions on selected tasks, and the outcomes that mean "done" for each.
ACTED = {
    "requeue": {"requeued"},
    "purge": {"purged"},
    "cancel": {"cancelled", "requested"},
    "terminate": {"cancelled", "requested"},
    "run-now": {"moved"},
}
REQUEUEABLE = {TaskState.FAILED, TaskState.SUCCESSFUL}


def plural(n: int, word: str = "task") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def predict(action: str, record: TaskRecord | None) -> str:
    """What the action will do to a task as it is now (the backend decides atomically)."""
    if record is None:
        return "missing"
    if action == "purge":
        return "RUNNING" if record.state == TaskState.RUNNING else "purged"
    if action == "run-now":
        if record.state == TaskState.DEFERRED:
            return "moved"
        return record.state.value if record.state is not None else "corrupt"
    if action in ("cancel", "terminate"):
        if record.state in (TaskState.READY, TaskState.DEFERRED):
            return "cancelled"
        if record.state == TaskState.RUNNING:
            return "requested"
        return record.state.value if record.state is not None else "corrupt"
    if record.state in REQUEUEABLE and record.path:
        return "requeued"
    if record.state is None or not record.path:
        return "corrupt"
    return record.state.value


def _them(n: int) -> str:
    return "it" if n == 1 else "them"


def _cancel_message(action: str, outcome: str, n: int) -> tuple[int, str]:
    if outcome == "cancelled":
        return (
            messages.SUCCESS,
            f"Cancelled {plural(n)}: FAILED with Cancelled, removed from the queue; "
            f"{'it' if n == 1 else 'they'} will not run.",
        )
    if outcome == "requested" and action == "terminate":
        return (
            messages.SUCCESS,
            f"Asked the worker{'' if n == 1 else 's'} of {plural(n, 'running task')} to "
            f"stop {_them(n)} now: {'it ends' if n == 1 else 'they end'} FAILED with "
            "Cancelled (a sync task's worker process is replaced, its other tasks requeued "
            "without being charged an attempt).",
        )
    if outcome == "requested":
        return (
            messages.SUCCESS,
            f"Requested the cancellation of {plural(n, 'running task')}: "
            f"{'it stops' if n == 1 else 'they stop'} at the next "
            "current_task().raise_if_cancelled() and will not be retried. Terminate stops "
            f"{_them(n)} at once.",
        )
    if outcome == "missing":
        return (messages.WARNING, f"{plural(n)} missing: already purged, or expired.")
    if outcome == "corrupt":
        return (
            messages.WARNING,
            f"Refused {plural(n)} because the record is corrupt (no status): purge "
            f"{_them(n)} instead.",
        )
    return (
        messages.WARNING,
        f"Refused {plural(n)} because {outcome}: already finished, nothing to cancel.",
    )


def _requeue_or_purge_message(action: str, outcome: str, n: int) -> tuple[int, str]:
    if outcome == "requeued":
        text = f"Requeued {plural(n)}: back to READY, in priority order, id and history kept."
        return (messages.SUCCESS, text)
    if outcome == "purged":
        return (messages.SUCCESS, f"Purged {plural(n)}: removed from Redis.")
    if outcome == "RUNNING":
        return (
            messages.WARNING,
            f"Refused {plural(n)} because RUNNING: a worker holds {_them(n)}. Wait until finished.",
        )
    if outcome == "missing":
        return (messages.WARNING, f"{plural(n)} missing: already purged, or expired.")
    if outcome == "corrupt":
        return (
            messages.WARNING,
            f"Refused {plural(n)} because the record is corrupt (no task path): "
            "it cannot run; purge it instead.",
        )
    return (
        messages.WARNING,
        f"Refused {plural(n)} because {outcome}: only FAILED or SUCCESSFUL tasks can be requeued.",
    )


def _run_now_message(action: str, outcome: str, n: int) -> tuple[int, str]:
    if outcome == "moved":
        return (
            messages.SUCCESS,
            f"Moved {plural(n)} to READY now: the next free thread runs "
            f"{_them(n)} (id and history kept).",
        )
    if outcome == "missing":
        return (messages.WARNING, f"{plural(n)} missing: already purged, or expired.")
    return (
        messages.WARNING,
        f"Refused {plural(n)} because {outcome}: only DEFERRED tasks (waiting for their time "
        "or a retry) can be run now.",
    )


def outcome_messages(action: str, outcomes: dict[str, str]) -> list[tuple[int, str]]:
    """(message level, text) per outcome, counted, what was done first: requeued, refused
    because RUNNING, ..."""
    counts = Counter(outcomes.values())
    word = _requeue_or_purge_message
    if action in ("cancel", "terminate"):
        word = _cancel_message
    elif action == "run-now":
        word = _run_now_message
    done = ACTED[action]
    ordered = sorted(counts.items(), key=lambda item: (item[0] not in done, item[0] != "cancelled"))
    return [word(action, outcome, n) for outcome, n in ordered]
