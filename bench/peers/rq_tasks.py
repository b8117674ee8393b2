"""The benchmark's RQ job functions (plain functions, enqueued by import path)."""

from common import record_stamp


def noop():
    return None


def stamp(i):
    record_stamp(i)
