"""The benchmark's tasks for Threadmill from this repository (`bench.peers.threadmill_tasks`)."""

from django.tasks import task

from bench.peers.common import record_stamp


@task
def noop():
    return None


@task
def stamp(i: int):
    record_stamp(i)
