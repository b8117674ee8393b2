"""Pool reports for tests, written as the heartbeat stores them (times in ms)."""

from __future__ import annotations

import json

from threadmill.backends.pool_records import PoolReport
from threadmill.backends.redis_records import report_from_json


def pool_report(data: dict) -> PoolReport:
    """The PoolReport a reader makes of `data`, the JSON a heartbeat stores."""
    return report_from_json(json.dumps(data))
