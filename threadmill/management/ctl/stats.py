"""`threadmill_ctl stats`: a backend's queue and run metrics on stdout, as a table, JSON
(`--json`) or the Prometheus text format (`--prometheus`, the same text the metrics view
serves for that alias).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threadmill.backends.base import ThreadmillBackend
from threadmill.backends.metric_records import TaskMetrics
from threadmill.exceptions import ThreadmillError
from threadmill.exposition import collect, render

from .base import OK, UNUSABLE, Subcommand


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def task_row(m: TaskMetrics) -> dict[str, Any]:
    """One task path's metrics as JSON (and the table) show them."""
    last = m.last_failure
    return {
        "queue": m.queue,
        "task": m.path,
        "runs": m.runs,
        "successful": m.successful,
        "failed": m.failed,
        "retried": m.retried,
        "failure_rate": round(m.failure_rate, 4),
        "p50_ms": m.p50,
        "p95_ms": m.p95,
        "max_ms": m.max_ms,
        "last_failure": None
        if last is None
        else {"at": last.at.isoformat(), "task_id": last.task_id, "class": last.exception_class},
    }


class Stats(Subcommand):
    name = "stats"

    def changes(self, options: dict[str, Any]) -> bool:
        return False  # read-only

    help = (
        "Print the backend's queues, pools and per-task run metrics (last --span seconds): "
        "a table, --json, or --prometheus (the metrics view's text for this backend)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        form = parser.add_mutually_exclusive_group()
        form.add_argument("--json", action="store_true", help="Print one JSON document.")
        form.add_argument(
            "--prometheus", action="store_true", help="Print the Prometheus text format."
        )
        parser.add_argument(
            "--span",
            type=float,
            default=3600.0,
            help="Seconds of per-task metrics to add up (default: %(default)g; at most the "
            "alias's metrics_window).",
        )

    def run(self, backend: ThreadmillBackend, options: dict[str, Any], cmd: BaseCommand) -> int:
        if options["span"] < 60:
            raise CommandError(
                f"--span must be at least 60 seconds (metrics are kept per minute), got "
                f"{options['span']:g}.",
                returncode=UNUSABLE,
            )
        try:
            if options["prometheus"]:
                families = collect([backend])
                up = next(f for f in families if f.name == "threadmill_up")
                if not up.samples or not up.samples[0][1]:
                    raise ThreadmillError(f"Redis of backend {backend.alias!r} did not answer.")
                cmd.stdout.write(render(families), ending="")
                return OK
            overview = backend.overview(recent_failures=0)
            series = []
            if backend.config.metrics_window:
                series = backend.task_metrics(span=options["span"], failures=1)
        except ThreadmillError as exc:
            raise CommandError(f"Could not read the metrics: {exc}", returncode=UNUSABLE) from exc
        live = [p for p in overview.pools if not p.stale]
        threads = [t for p in live for w in p.report.workers for t in w.threads]
        doc = {
            "backend": backend.alias,
            "queues": [
                {
                    "queue": q.queue,
                    "ready": q.ready,
                    "deferred": q.deferred,
                    "running": q.running,
                    "oldest_ready_age_s": round(
                        (q.measured_at - q.oldest_ready_at).total_seconds(), 3
                    )
                    if q.oldest_ready_at
                    else None,
                    "enqueued_total": q.enqueued_total,
                    "successful_total": q.successful_total,
                    "failed_total": q.failed_total,
                    "retried_total": q.retried_total,
                }
                for q in overview.queues
            ],
            "pools": len(live),
            "workers": sum(len(p.report.workers) for p in live),
            "threads": len(threads),
            "busy_threads": sum(1 for t in threads if t.task_id),
            "span_s": options["span"],
            "tasks": [task_row(m) for m in series],
        }
        if options["json"]:
            cmd.stdout.write(json.dumps(doc, indent=2))
            return OK
        self._table(doc, cmd)
        return OK

    def _table(self, doc: dict[str, Any], cmd: BaseCommand) -> None:
        out = cmd.stdout
        out.write(
            f"{doc['backend']}: {doc['pools']} pool(s), {doc['workers']} worker(s), "
            f"{doc['busy_threads']}/{doc['threads']} thread(s) busy"
        )
        out.write(f"{'QUEUE':<20} {'READY':>8} {'DEFERRED':>9} {'RUNNING':>8} {'OLDEST':>9}")
        for q in doc["queues"]:
            age = "-" if q["oldest_ready_age_s"] is None else f"{q['oldest_ready_age_s']:.1f}s"
            out.write(
                f"{q['queue']:<20} {q['ready']:>8} {q['deferred']:>9} {q['running']:>8} {age:>9}"
            )
        out.write(f"Tasks, last {doc['span_s']:g}s:")
        out.write(
            f"{'TASK':<40} {'QUEUE':<12} {'RUNS':>7} {'FAIL%':>6} {'P50MS':>7} {'P95MS':>7} "
            f"{'MAXMS':>7}"
        )
        for t in doc["tasks"]:
            out.write(
                f"{t['task']:<40} {t['queue']:<12} {t['runs']:>7} "
                f"{100 * t['failure_rate']:>6.1f} {_ms(t['p50_ms']):>7} {_ms(t['p95_ms']):>7} "
                f"{_ms(t['max_ms']):>7}"
            )
        if not doc["tasks"]:
            out.write("(no runs)")
