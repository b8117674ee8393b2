"""Django settings for the Django-based peers (published threadmill, django-tasks-db).

Chosen by BENCH_SYSTEM; the Redis URL and scratch directory come from the environment.
"""

import os
from pathlib import Path

SYSTEM = os.environ["BENCH_SYSTEM"]
SECRET_KEY = "bench-only"
DEBUG = False  # DEBUG keeps every query in memory, and would turn db_worker's reloader on
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None  # leave the worker commands' own log set-up alone

if SYSTEM == "threadmill-pypi":
    INSTALLED_APPS = ["threadmill"]
    DATABASES = {}
    TASKS = {
        "default": {
            "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
            "REDIS_URL": os.environ["BENCH_REDIS_URL"],
        }
    }
elif SYSTEM == "django-tasks-db":
    INSTALLED_APPS = ["django_tasks_db"]
    # Django's default SQLite settings, in a file under the run's scratch directory.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(os.environ["BENCH_WORKDIR"]) / "django_tasks_db.sqlite3"),
        }
    }
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
else:
    raise RuntimeError(f"no Django settings for {SYSTEM!r}")
