"""The benchmark's dramatiq actors, on a RedisBroker with its default middleware."""

import os

import dramatiq
from common import record_stamp
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor
def noop():
    return None


@dramatiq.actor
def stamp(i):
    record_stamp(i)
