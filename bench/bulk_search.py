"""Search and bulk jobs at scale: a million tasks, admin pages, a filtered search, and a
server-side "requeue all failed of one exception class" while a pool drains.

    uv run python bench/bulk_search.py [--tasks 1000000] [--failed 100000] [--runs 3]
        [--batch-size 100]

Starts a private redis-server (persistence off) and fills queue `default` with `--tasks`
finished tasks (the last `--failed` of them FAILED, across 50 task paths and 20 exception
classes; the rest SUCCESSFUL), written by a Lua generator in chunks (the records have the
fields the backend's own scripts write), plus 30,000 ready no-op tasks in queue `low` (200
of each of the 50 paths first, then 20,000 of another).
Then it prints: the render time of each admin page (Django's test client, median / max of
`--runs`), and, while a pool (2 processes x 4 threads) drains queue `low`, a bulk requeue
of the failed tasks of one exception class carried out by that pool's broker: its wall
time, and the Redis time of each of its chunks from SLOWLOG, with Redis memory before and
after; then the pages that read run metrics and the Prometheus scrape.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402

PATHS = [f"bench.bulk_tasks.job_{n:02d}" for n in range(50)]
CLASSES = [f"bench.errors.Error{n:02d}" for n in range(20)]
GENERATE_CHUNK = 10_000
LOW_PER_PATH = 200  # ready tasks per bench.bulk_tasks path in queue `low`
LOW_TASKS = 20_000 + LOW_PER_PATH * 50

#: Writes `n` finished records from number `start`: every field the backend's scripts write
#: for a finished task (see finish in lua/lib/1_records.lua), in its index, with its result's TTL.
GENERATOR = """
local base, queue, start, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local failed_from, now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local npaths, nclasses = tonumber(ARGV[8]), tonumber(ARGV[9])
local ok_index = base .. 'q:' .. queue .. ':successful'
local bad_index = base .. 'q:' .. queue .. ':failed'
for i = start, start + n - 1 do
  local id = string.format('bench%08d', i)
  local key = base .. 'task:' .. id
  local path = ARGV[10 + (i % npaths)]
  local finished = now - (failed_from * 2 - i) * 3
  local fields = {'path', path, 'queue', queue, 'priority', 0, 'takes_context', '0',
    'run_after', '', 'args', '[' .. i .. ', "acct-' .. (i % 997) .. '"]', 'kwargs', '{}',
    'enqueued_at', finished - 900, 'attempts', 1, 'losses', 0,
    'worker_ids', '["host-' .. (i % 8) .. '.4127.w' .. (i % 4) .. '"]',
    'worker', 'host-' .. (i % 8) .. '.4127.w' .. (i % 4), 'ready_at', finished - 900,
    'started_at', finished - 400, 'last_attempted_at', finished - 400,
    'finished_at', finished, 'deadline', '', 'token', ''}
  if i >= failed_from then
    local cls = ARGV[10 + npaths + (i % nclasses)]
    local short = string.match(cls, '([^%.]+)$')
    local tb = 'Traceback (most recent call last):\\n  File \\"/srv/app/tasks.py\\", line 42, '
      .. 'in run\\n    charge(account)\\n  File \\"/srv/app/billing.py\\", line 17, in charge\\n'
      .. '    raise ' .. short .. '(account)\\n' .. cls .. ': account acct-' .. (i % 997)
      .. ' could not be charged\\n'
    table.insert(fields, 'status')
    table.insert(fields, 'FAILED')
    table.insert(fields, 'errors')
    table.insert(fields, '[{"exception_class_path": "' .. cls .. '", "traceback": "' .. tb .. '"}]')
    redis.call('ZADD', bad_index, finished, id)
  else
    table.insert(fields, 'status')
    table.insert(fields, 'SUCCESSFUL')
    table.insert(fields, 'errors')
    table.insert(fields, '[]')
    table.insert(fields, 'result')
    table.insert(fields, 'null')
    redis.call('ZADD', ok_index, finished, id)
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('PEXPIRE', key, ttl)
end
redis.call('SADD', base .. 'queues', queue)
return n
"""


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def timed(client, path: str, runs: int, headers: dict | None = None) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path, headers=headers or {})
        times.append(time.perf_counter() - t0)
        assert response.status_code in (200, 302), (path, response.status_code)  # 302: jump
    return statistics.median(times) * 1000, max(times) * 1000


def print_times(client, pages: dict[str, str], runs: int, title: str) -> None:
    """Render each page `runs` times and print its median and longest time."""
    print(f"{title} over {runs} runs (median / max):")
    for label, path in pages.items():
        median, worst = timed(client, path, runs)
        print(f"  {label:<36} {median:7.1f} ms / {worst:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--failed", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    options = parser.parse_args()
    batch = options.batch_size

    with RedisServer(appendonly=False) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        os.environ["THREADMILL_TEST_REDIS_URL"] = server.url
        os.environ["THREADMILL_TEST_DB"] = str(Path(tmp) / "db.sqlite3")
        os.environ["THREADMILL_TEST_OPTIONS"] = f'{{"batch_size": {batch}}}'
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.tasks import task_backends
        from django.test import Client

        from bench import bulk_tasks
        from bench import tasks as bench_tasks
        from tests.pool_helpers import Pool, wait_until
        from threadmill.backends.records import TaskState
        from threadmill.backends.search_records import TaskFilter

        call_command("migrate", verbosity=0)
        client = Client()
        client.force_login(User.objects.create_superuser("admin", "a@example.com", "admin"))
        backend = task_backends["default"]
        redis = backend.store.client

        started = time.perf_counter()
        now_s, now_us = redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        failed_from = options.tasks - options.failed
        for start in range(0, options.tasks, GENERATE_CHUNK):
            n = min(GENERATE_CHUNK, options.tasks - start)
            args = [backend.keys.base, "default", start, n, failed_from, now_ms, 86_400_000]
            redis.eval(GENERATOR, 0, *args, len(PATHS), len(CLASSES), *PATHS, *CLASSES)
        for name in PATHS:  # runs of 50 task paths for the metrics pages and the scrape
            job_task = getattr(bulk_tasks, name.rsplit(".", 1)[1]).using(queue_name="low")
            backend.enqueue_many(job_task, [((), {})] * LOW_PER_PATH)
        backend.enqueue_many(bench_tasks.noop.using(queue_name="low"), [((), {})] * 20_000)
        took = time.perf_counter() - started
        stats = backend.queue_stats(["default", "low"])
        print(
            f"built {options.tasks:,} finished tasks ({stats[0].failed:,} failed across "
            f"{len(PATHS)} paths and {len(CLASSES)} classes) and {stats[1].ready:,} ready "
            f"ones in {took:.1f} s"
        )
        info = backend.server_info()
        print(f"redis {info.version}, used memory {info.used_memory / 2**20:,.0f} MiB")

        wanted = CLASSES[7]
        short = wanted.rsplit(".", 1)[1]
        base = "/admin/threadmill/task/default/"
        failed = f"{base}queues/default/failed/"
        pages = {
            "overview": "/admin/threadmill/task/",
            "failed list, first page": failed,
            "failed list, offset 99,000": f"{failed}?offset=99000",
            "successful list, offset 800,000": f"{base}queues/default/successful/?offset=800000",
            f"search error={short} (matches)": f"{failed}?error={short}",
            f"search error={short}&args=acct-5": f"{failed}?error={short}&args=acct-5",
            "search, no match (10,000 scanned)": f"{failed}?error=NoSuchError",
            "search since/until + task": (
                f"{failed}?task=job_07&since=2000-01-01&until=2100-01-01"
            ),
            "group failed by exception class": f"{failed}?group=error",
            f"bulk confirmation, error={short}": f"{failed}all/requeue/?error={short}",
            "ready list (queue low)": f"{base}queues/low/ready/",
            "running list": f"{base}queues/default/running/",
            "deferred list": f"{base}queues/default/deferred/",
            "retrying list": f"{base}queues/default/retrying/",
            "bulk jobs page": f"{base}jobs/",
            "schedules page": f"{base}schedules/",
            "workers page (no pool yet)": f"{base}workers/",
            "task detail": f"{base}tasks/bench{options.tasks - 1:08d}/",
            "go to task id (a whole id)": f"{base}jump/?id=bench{options.tasks - 1:08d}",
            "go to task id (a prefix)": f"{base}jump/?id=bench{options.tasks - 1:08d}"[:-1],
        }
        print_times(client, pages, options.runs, "render times")

        # A bulk requeue of one exception class while a pool drains queue `low`.
        before = redis.info("memory")["used_memory"]
        redis.config_set("slowlog-log-slower-than", 0)
        redis.config_set("slowlog-max-len", 1_000_000)
        redis.slowlog_reset()
        pool = Pool(
            server.url,
            "--queues",
            "low",
            "--processes",
            "2",
            "--threads",
            "4",
            options={"batch_size": batch},
            log_dir=Path(tmp),
        )
        try:
            wait_until(
                lambda: backend.queue_stats(["low"])[0].ready < LOW_TASKS - 1_000, timeout=60
            )
            t0 = time.perf_counter()
            job = backend.create_job(
                "requeue", "default", TaskState.FAILED, TaskFilter(error=short), who="bench"
            )
            page = f"{base}jobs/{job.id}/"
            wait_until(  # carried out by the pool's broker, as in production
                lambda: backend.get_job(job.id).status.finished, timeout=600, interval=0.05
            )
            wall = time.perf_counter() - t0
            done = backend.get_job(job.id)
            job_bytes = redis.memory_usage(backend.keys.job(job.id)) or 0
            low_left = backend.queue_stats(["low"])[0].ready
            median, worst = timed(client, page, options.runs)
            wait_until(  # the 50 paths' runs are in the metrics (they were enqueued first)
                lambda: backend.queue_stats(["low"])[0].ready <= 20_000, timeout=120
            )
        finally:
            pool.close()
        sha = backend.store.scripts.lua["bulk_chunk"].sha
        chunks = [
            e["duration"] / 1000
            for e in redis.slowlog_get(1_000_000)
            if _text(e.get("command", b"")).lower().startswith(f"evalsha {sha}")
        ]
        redis.slowlog_reset()  # the log of every command is not the tasks' memory
        redis.config_set("slowlog-max-len", 128)
        after = redis.info("memory")["used_memory"]
        chunks.sort()
        print(
            f"bulk requeue of {short} (batch_size {batch}): {done.acted:,} requeued of "
            f"{done.examined:,} examined in {wall:.2f} s ({done.status}); the pool drained "
            f"{LOW_TASKS - low_left:,} of {LOW_TASKS:,} meanwhile"
        )
        if chunks:
            p99 = chunks[min(len(chunks) - 1, int(len(chunks) * 0.99))]
            print(
                f"  {len(chunks)} chunks, Redis time each: median {statistics.median(chunks):.2f}"
                f" ms, p99 {p99:.2f} ms, max {chunks[-1]:.2f} ms"
            )
        print(f"  job page {median:.1f} ms / {worst:.1f} ms")
        print(
            f"  redis used memory {before / 2**20:,.0f} MiB before, {after / 2**20:,.0f} MiB after"
            f" (the drained tasks' results included); the job's own record {job_bytes:,} bytes"
        )

        # Pages that read run metrics (the pool's runs of 51 task paths), and the scrape.
        pages = {
            "overview (with the runs chart)": "/admin/threadmill/task/",
            "metrics page": f"{base}metrics/",
            "task metrics page": f"{base}metrics/{PATHS[7]}/?queue=low",
            "workers page": f"{base}workers/",
            "Prometheus scrape (/metrics/)": "/metrics/",
        }
        print_times(client, pages, options.runs, "after the pool's runs,")
        scrape = client.get("/metrics/").content
        print(f"  the scrape is {len(scrape) / 1024:,.0f} KiB, {scrape.count(b'\n'):,} lines")


if __name__ == "__main__":
    main()
