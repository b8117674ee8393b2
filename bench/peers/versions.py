"""The one place where the peers' versions are pinned.

Each peer is installed into its own virtual environment (see
`bench/compare/environments.py`), built from these requirement lines only: no peer shares a
package, or a process, with another. The Redis client and Django are pinned too, so every
system runs the same client and framework.
`threadmill` itself runs from this repository, in the repository's own environment.

To move a pin: edit it here; bench.compare builds a fresh environment (the directory name is
a hash of the lines) on the next run.

The published threadmill is pinned per interpreter: its releases after 0.3.1 need Python
3.14, so the benchmark measures the newest release that installs on the Python it runs.
"""

REDIS_PY = "redis==8.1.0"
DJANGO = "django==6.1.3"

#: system name -> requirement lines for its private environment.
PINS: dict[str, list[str]] = {
    "threadmill-pypi": ["threadmill[redis]==0.8.4", REDIS_PY, DJANGO],
    "dramatiq": ["dramatiq[redis]==2.2.1", REDIS_PY],
    "huey": ["huey==3.5.4", REDIS_PY],
    "celery": ["celery[redis]==5.7.0", "kombu==5.7.0", "billiard==4.3.2", REDIS_PY],
    "rq": ["rq==3.0.0", REDIS_PY],
    # The database backend of django-tasks moved to this package in 0.12; redis-py is only
    # for the benchmark's stamp task (the backend itself uses SQLite).
    "django-tasks-db": ["django-tasks-db==0.13.0", DJANGO, REDIS_PY],
}

#: system -> (minimum Python, requirement lines to use instead below it).
OLDER_PYTHON_PINS: dict[str, tuple[tuple[int, int], list[str]]] = {
    # 0.4.0 and later need Python 3.14; 0.3.1 is the newest release for 3.12 and 3.13.
    "threadmill-pypi": ((3, 14), ["threadmill[redis]==0.3.1", REDIS_PY, DJANGO]),
}


def pins_for(system: str, python_version: str) -> list[str]:
    """The requirement lines of `system` for an interpreter of `python_version` ("3.13.0")."""
    major, minor = (int(part) for part in python_version.split(".")[:2])
    older = OLDER_PYTHON_PINS.get(system)
    if older is not None and (major, minor) < older[0]:
        return older[1]
    return PINS[system]
