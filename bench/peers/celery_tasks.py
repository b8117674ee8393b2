"""The benchmark's celery app: Redis broker, no result backend (celery's default)."""

import os

from celery import Celery
from common import record_stamp

app = Celery("celery_tasks", broker=os.environ["BENCH_REDIS_URL"])
app.conf.broker_connection_retry_on_startup = True  # silences a deprecation warning only


@app.task
def noop():
    return None


@app.task
def stamp(i):
    record_stamp(i)
