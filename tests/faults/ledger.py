"""The oracle of the fault tests: every enqueued task id accounted for exactly once.

Tasks append `id attempt pid` to a ledger file when they start (a side channel that no fault
touches). At the end each acknowledged id (its `enqueue()` returned) must be SUCCESSFUL,
FAILED with a reason, or still queued; never lost. An id may have run more than once only
when its record explains every extra run: a recorded loss (WorkerLost), an error of an
attempt that was retried, or an attempt given back when its worker was replaced for
another task's sake (the record's `released` count).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist

LOSSES = ("threadmill.exceptions.WorkerLost",)


@dataclass
class LedgerReport:
    statuses: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    unexplained_duplicates: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    failed_without_reason: list[str] = field(default_factory=list)
    executions: Counter = field(default_factory=Counter)
    explained_duplicates: int = 0

    def assert_consistent(self) -> None:
        assert not self.lost, f"lost tasks: {self.lost[:10]}"
        assert not self.unexplained_duplicates, f"ran twice: {self.unexplained_duplicates[:10]}"
        assert not self.unexpected, f"never enqueued, yet ran: {self.unexpected[:10]}"
        assert not self.failed_without_reason, self.failed_without_reason[:10]


def executions(path: Path) -> Counter:
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line.strip())


def _errors(backend, task_id: str) -> str:
    try:
        result = backend.get_result(task_id)
    except TaskResultDoesNotExist:
        return "no record"
    return f"{result.status}, errors {[e.traceback.splitlines()[-1] for e in result.errors]}"


def check(backend, acknowledged: list[str], ledger: Path, unknown: int = 0) -> LedgerReport:
    report = LedgerReport(executions=executions(ledger))
    known = set(acknowledged)
    for task_id in acknowledged:
        try:
            result = backend.get_result(task_id)
        except TaskResultDoesNotExist:
            report.lost.append(task_id)
            continue
        report.statuses[result.status] += 1
        if result.status == TaskResultStatus.FAILED and not result.errors:
            report.failed_without_reason.append(task_id)
        runs = report.executions.get(task_id, 0)
        explained = len(result.errors)  # each a lost or a retried attempt ...
        final = result.errors[-1] if result.errors else None
        if result.status == TaskResultStatus.FAILED and final:
            # ... but the last error of a FAILED task is its final run, unless it was a loss
            explained -= final.exception_class_path not in LOSSES
        record = backend.get_task(task_id)
        if runs > 1 + explained + (record.released if record else 0):
            report.unexplained_duplicates.append(task_id)
        report.explained_duplicates += max(0, runs - 1)
    strangers = [i for i in report.executions if i not in known]
    # An enqueue whose outcome is unknown (it raised) may have been stored: it may run once.
    if len(strangers) > unknown or any(report.executions[i] > 1 for i in strangers):
        report.unexpected = [
            f"{i} (ran {report.executions[i]}x, {_errors(backend, i)}; {unknown} unknown)"
            for i in strangers
        ]
    return report
