"""The benchmark's huey tasks, on a RedisHuey with its defaults (blocking BRPOP dequeue)."""

import os

from common import record_stamp
from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"])


@huey.task()
def noop():
    return None


@huey.task()
def stamp(i):
    record_stamp(i)
