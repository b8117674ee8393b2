"""Django settings for the benchmarks: Threadmill on the benchmark's private Redis
(BENCH_REDIS_URL or THREADMILL_TEST_REDIS_URL), and no per-task log lines.

The peers run with their per-task logging off (bench/peers/peer_django_settings.py leaves
Django's logging unconfigured), so Threadmill does too: Django's own `task_started` /
`task_finished` receivers log each task at INFO, which costs a LogRecord per event even when
no handler prints it. Set `django.tasks` to WARNING in your project to get the same.
"""

import os

SECRET_KEY = "threadmill-bench-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["threadmill", "bench"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get(
    "THREADMILL_TEST_REDIS_URL", "redis://127.0.0.1:1/0"
)
TASKS = {
    "default": {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "REDIS_URL": REDIS_URL,
        "QUEUES": ["default"],
    },
    # The same without the busy-wait for replies, for bench/reply_spin.py's side by side.
    "nospin": {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "REDIS_URL": REDIS_URL,
        "QUEUES": ["default"],
        "OPTIONS": {"reply_spin": 0},
    },
    # The same without run metrics, for bench/metrics_ack.py's side by side.
    "nometrics": {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "REDIS_URL": REDIS_URL,
        "QUEUES": ["default"],
        "OPTIONS": {"metrics_window": 0},
    },
}
# bench/schedules_idle.py: N hourly schedules (none due while it measures).
if os.environ.get("BENCH_SCHEDULES"):
    TASKS["default"]["OPTIONS"] = {
        "schedules": {
            f"hourly-{n}": {"task": "bench.tasks.noop", "every": 3600}
            for n in range(int(os.environ["BENCH_SCHEDULES"]))
        }
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"django.tasks": {"level": "WARNING"}},
}
