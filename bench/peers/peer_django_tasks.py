"""The benchmark's tasks for the Django-based peers (`django.tasks` API)."""

from common import record_stamp
from django.tasks import task


@task
def noop():
    return None


@task
def stamp(i: int):
    record_stamp(i)
