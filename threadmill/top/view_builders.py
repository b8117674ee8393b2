"""How the dashboard's views are made from the backend's records: one function per view
(`queue_view`, `server_view`, `pool_view`, `failure_view`, `job_view`, `schedule_view`),
pure, with ages and runtimes measured against Redis time (`now`, from the frame's read).
A pool's own timestamps are on its host's clock: they are moved onto Redis's clock by the
skew the pool publishes. The views are in `views.py`; `snapshot.Sampler` calls these once
per frame.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from threadmill.backends.health_records import ServerInfo
from threadmill.backends.job_records import BulkJob
from threadmill.backends.pool_records import PoolStatus
from threadmill.backends.records import QueueStats, TaskRecord
from threadmill.backends.schedule_records import ScheduleReport
from threadmill.filters import describe

from .views import (
    FailureView,
    JobView,
    PoolView,
    QueueView,
    RunView,
    ScheduleView,
    ServerView,
    ThreadView,
    WorkerView,
)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, round((later - earlier).total_seconds(), 3))


def _host_time(moment: datetime | None, skew_seconds: float) -> datetime | None:
    """A pool host's timestamp on the Redis clock (skew = host clock minus Redis clock)."""
    if moment is None:
        return None
    return moment - timedelta(seconds=skew_seconds)


def job_view(job: BulkJob) -> JobView:
    return JobView(
        job_id=job.id,
        action=job.action,
        queue=job.queue,
        tasks="retrying" if job.retrying else job.state.slug,
        where=describe(job.filter),
        status=str(job.status),
        examined=job.examined,
        total=job.total,
        acted=job.acted,
        percent=job.percent,
        who=job.who,
    )


def persistence_label(server: ServerInfo) -> str:
    if server.aof_enabled:
        return f"AOF {server.appendfsync}".strip()
    if server.rdb_save:
        return "RDB"
    return "off"


def pool_view(pool: PoolStatus, now: datetime) -> PoolView:
    report = pool.report
    skew = report.skew_seconds
    workers = []
    for w in report.workers:
        threads = [
            ThreadView(
                index=t.index,
                task_id=t.task_id,
                task_path=t.task_path,
                running_seconds=_seconds(now, _host_time(t.since, skew)) if t.task_id else None,
            )
            for t in w.threads
        ]
        workers.append(
            WorkerView(
                worker_id=w.worker_id,
                pid=w.pid,
                uptime_seconds=_seconds(now, _host_time(w.started_at, skew)),
                busy=w.busy,
                threads=threads,
                processed=w.processed,
                failed=w.failed,
                rss_bytes=w.rss_bytes,
            )
        )
    return PoolView(
        pool_id=pool.pool_id,
        host=report.host,
        pid=report.pid,
        uptime_seconds=_seconds(now, _host_time(report.started_at, skew)),
        heartbeat_age_seconds=_seconds(now, pool.seen_at),
        stale=pool.stale,
        stopping=report.stopping,
        quiet=report.quiet,
        restarts=report.restarts,
        crashes=report.crashes,
        rss_bytes=report.rss_bytes,
        skew_seconds=skew,
        queues=list(report.queues),
        processes=report.processes,
        threads_per_process=report.threads,
        workers=sorted(workers, key=lambda w: w.pid),
    )


def failure_view(record: TaskRecord, now: datetime) -> FailureView:
    error = record.last_error
    return FailureView(
        task_id=record.id,
        queue=record.queue,
        task_path=record.path or "?",
        error_class=error.exception_class_path if error else "?",
        finished_at=record.finished_at,
        ago_seconds=_seconds(now, record.finished_at),
    )


def schedule_view(report: ScheduleReport, now: datetime) -> ScheduleView:
    run = report.last_run
    return ScheduleView(
        name=report.name,
        task=report.task,
        description=report.description,
        next_slot=report.next_slot,
        due_in_seconds=(
            round((report.next_slot - now).total_seconds(), 3) if report.next_slot else None
        ),
        paused=report.paused,
        problem=report.problem.id if report.problem else "",
        last_run=RunView(run.slot, run.task_id, run.how, run.status) if run else None,
    )


def queue_view(
    q: QueueStats, now: datetime, in_per_second: float | None, out_per_second: float | None
) -> QueueView:
    """A queue's counts; its rates (None: not measured yet) come from the sampler."""
    return QueueView(
        name=q.queue,
        ready=q.ready,
        deferred=q.deferred,
        running=q.running,
        successful=q.successful,
        failed=q.failed,
        successful_last_minute=q.successful_last_minute,
        failed_last_minute=q.failed_last_minute,
        in_per_second=in_per_second,
        out_per_second=out_per_second,
        oldest_ready_seconds=_seconds(now, q.oldest_ready_at),
        enqueued_total=q.enqueued_total,
        successful_total=q.successful_total,
        failed_total=q.failed_total,
        retrying=q.retrying,
        retried_total=q.retried_total,
        paused=q.paused,
    )


def server_view(server: ServerInfo) -> ServerView:
    return ServerView(
        version=server.version,
        used_memory=server.used_memory,
        maxmemory=server.maxmemory,
        maxmemory_policy=server.maxmemory_policy,
        persistence=persistence_label(server),
        warnings=list(server.warnings),
    )
