"""The one place where the peers' versions are pinned.

Each peer is installed into its own virtual environment (see `bench/compare.py`), built from
these requirement lines only: no peer shares a package, or a process, with another. The
Redis client and Django are pinned too, so every system runs the same client and framework.
`threadmill` itself runs from this repository, in the repository's own environment.

To move a pin: edit it here; compare.py builds a fresh environment (the directory name is a
hash of the lines) on the next run.
"""

REDIS_PY = "redis==8.1.0"
DJANGO = "django==6.1.3"

#: system name -> requirement lines for its private environment.
PINS: dict[str, list[str]] = {
    # The newest release that installs on Python 3.13: 0.4.0 and later need Python 3.14.
    "threadmill-pypi": ["threadmill[redis]==0.3.1", REDIS_PY, DJANGO],
    "dramatiq": ["dramatiq[redis]==2.2.1", REDIS_PY],
    "huey": ["huey==3.5.4", REDIS_PY],
    "celery": ["celery[redis]==5.7.0", "kombu==5.7.0", "billiard==4.3.2", REDIS_PY],
    "rq": ["rq==3.0.0", REDIS_PY],
    # The database backend of django-tasks moved to this package in 0.12; redis-py is only
    # for the benchmark's stamp task (the backend itself uses SQLite).
    "django-tasks-db": ["django-tasks-db==0.13.0", DJANGO, REDIS_PY],
}
