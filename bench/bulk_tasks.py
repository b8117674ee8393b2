"""The 50 task paths of bench/bulk_search.py (`bench.bulk_tasks.job_00` .. `job_49`): no-ops
a pool can run after a bulk requeue."""

from django.tasks import task

PATHS = [f"bench.bulk_tasks.job_{n:02d}" for n in range(50)]


def _make(name: str):
    def run(*args, **kwargs):
        return None

    run.__name__ = run.__qualname__ = name
    run.__module__ = __name__
    return task(run)


for _path in PATHS:
    _name = _path.rsplit(".", 1)[1]
    globals()[_name] = _make(_name)
