"""Count the SQL statements a Django worker process runs (django-tasks-db's idle cost).

`install()` adds an execute wrapper to the default connection of the calling thread; each
statement rewrites `$BENCH_COUNT_QUERIES/<pid>` with the running total. That costs a file
write per statement, so it is switched on for the idle scenario only.
"""

import os
from pathlib import Path


def install() -> None:
    from django.db import connection

    path = Path(os.environ["BENCH_COUNT_QUERIES"]) / str(os.getpid())
    count = 0

    def counter(execute, sql, params, many, context):
        nonlocal count
        count += 1
        path.write_text(str(count))
        return execute(sql, params, many, context)

    connection.execute_wrappers.append(counter)
